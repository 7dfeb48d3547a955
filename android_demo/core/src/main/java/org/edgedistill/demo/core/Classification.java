package org.edgedistill.demo.core;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** A label with its probability, and the probability of every label in manifest order. */
public final class Classification {
    private final String label;
    private final double score;
    private final Map<String, Double> probabilities;

    public Classification(String label, double score, Map<String, Double> probabilities) {
        this.label = label;
        this.score = score;
        this.probabilities = Collections.unmodifiableMap(new LinkedHashMap<>(probabilities));
    }

    /** The Python runtime's Predictor.classify for one text's logits. */
    public static Classification fromLogits(float[] logits, List<String> labels) {
        if (logits.length != labels.size()) {
            throw new IllegalArgumentException("the model gives " + logits.length + " logits for "
                    + labels.size() + " labels");
        }
        double[] probs = Text.softmax(logits);
        Map<String, Double> byLabel = new LinkedHashMap<>();
        for (int i = 0; i < probs.length; i++) {
            byLabel.put(labels.get(i), probs[i]);
        }
        int best = Text.argmax(probs);
        return new Classification(labels.get(best), probs[best], byLabel);
    }

    public String label() {
        return label;
    }

    public double score() {
        return score;
    }

    public Map<String, Double> probabilities() {
        return probabilities;
    }

    @Override
    public String toString() {
        return label + " (" + score + ")";
    }
}
