package org.edgedistill.demo.core;

import java.io.Closeable;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * Text in, label or entities out, for one bundle: cleans the text, times the model call and turns
 * its logits into what the Python runtime would answer. Holds one {@link TextModel} for its whole
 * life, so the ONNX Runtime session is created once.
 */
public final class TextPredictor implements Closeable {
    private final Manifest manifest;
    private final TextModel model;

    public TextPredictor(Manifest manifest, TextModel model) throws BundleException {
        if (manifest.task() == Task.EMBEDDING) {
            throw new BundleException("the demo shows labels and entities; an embedding bundle has neither");
        }
        this.manifest = manifest;
        this.model = model;
    }

    public Manifest manifest() {
        return manifest;
    }

    public Prediction predict(String rawText) throws Exception {
        String text = Text.clean(rawText);
        long started = System.nanoTime();
        ModelOutput output = model.run(text);
        double millis = (System.nanoTime() - started) / 1e6;
        return decode(text, output, millis);
    }

    /** Post-processing alone, for outputs obtained elsewhere (the golden tests use it). */
    public Prediction decode(String text, ModelOutput output, double millis) throws BundleException {
        float[][] logits = output.logits();
        if (manifest.task() == Task.SEQUENCE_CLASSIFICATION) {
            if (logits.length != 1) {
                throw new BundleException("a sequence-classification model should give one row of logits, not "
                        + logits.length);
            }
            return Prediction.of(Classification.fromLogits(logits[0], manifest.labels()), millis, false);
        }
        long[] starts = output.tokenStarts();
        if (starts == null) {
            throw new BundleException("the bundle's Android model reports no token offsets, so entities cannot "
                    + "be placed in the text; re-export it with a token_offsets output");
        }
        List<float[]> rows = new ArrayList<>();
        List<Long> kept = new ArrayList<>();
        for (int i = 0; i < starts.length; i++) {
            if (starts[i] >= 0) {
                rows.add(logits[i]);
                kept.add(starts[i]);
            }
        }
        long[] contentStarts = new long[kept.size()];
        for (int i = 0; i < contentStarts.length; i++) {
            contentStarts[i] = kept.get(i);
        }
        String input = manifest.inputPrefix() + text;
        List<TokenSpan> spans = TokenAlignment.fromUtf8Starts(input, contentStarts);
        List<Entity> entities = EntityDecoder.decode(text, manifest.inputPrefix(), manifest.labels(), spans,
                rows.toArray(new float[0][]));
        boolean truncated = contentStarts.length >= manifest.maxLength() - 2;
        return Prediction.of(entities, millis, truncated);
    }

    @Override
    public void close() throws IOException {
        model.close();
    }
}
