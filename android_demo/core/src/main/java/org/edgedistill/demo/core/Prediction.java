package org.edgedistill.demo.core;

import java.util.Collections;
import java.util.List;

/** The result for one text: a classification or a list of entities, and how long the model took. */
public final class Prediction {
    private final Classification classification;
    private final List<Entity> entities;
    private final double inferenceMillis;
    private final boolean truncated;

    private Prediction(Classification classification, List<Entity> entities, double inferenceMillis,
                       boolean truncated) {
        this.classification = classification;
        this.entities = entities == null ? null : Collections.unmodifiableList(entities);
        this.inferenceMillis = inferenceMillis;
        this.truncated = truncated;
    }

    public static Prediction of(Classification classification, double inferenceMillis, boolean truncated) {
        return new Prediction(classification, null, inferenceMillis, truncated);
    }

    public static Prediction of(List<Entity> entities, double inferenceMillis, boolean truncated) {
        return new Prediction(null, entities, inferenceMillis, truncated);
    }

    /** The label, for a sequence-classification model; null otherwise. */
    public Classification classification() {
        return classification;
    }

    /** The entities, for a token-classification model; null otherwise. */
    public List<Entity> entities() {
        return entities;
    }

    /** Wall-clock time of the model call (tokenizer and encoder, both in the graph), in milliseconds. */
    public double inferenceMillis() {
        return inferenceMillis;
    }

    /** The text filled the model's max_length, so tokens past it were probably not seen. */
    public boolean truncated() {
        return truncated;
    }
}
