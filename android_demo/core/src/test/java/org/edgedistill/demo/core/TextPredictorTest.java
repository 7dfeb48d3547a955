package org.edgedistill.demo.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import org.junit.Test;

public class TextPredictorTest {
    /** A model that records what it was given and answers with fixed outputs. */
    private static final class FakeModel implements TextModel {
        final ModelOutput output;
        String seen;
        boolean closed;

        FakeModel(ModelOutput output) {
            this.output = output;
        }

        @Override
        public ModelOutput run(String text) {
            seen = text;
            return output;
        }

        @Override
        public void close() {
            closed = true;
        }
    }

    private static Manifest manifest(String task, String labels) throws BundleException {
        return Manifest.parse(TestBundles.manifest(task, labels, "00"), "m");
    }

    @Test
    public void classifiesCleanedTextAndTimesTheModel() throws Exception {
        FakeModel model = new FakeModel(new ModelOutput(new float[][] {{0f, 3f}}, null));
        TextPredictor predictor = new TextPredictor(manifest("sequence-classification", "[\"neg\", \"pos\"]"), model);
        Prediction p = predictor.predict("ok \ud800");
        assertEquals("ok \uFFFD", model.seen);
        assertEquals("pos", p.classification().label());
        assertNull(p.entities());
        assertTrue(p.inferenceMillis() >= 0);
        predictor.close();
        assertTrue(model.closed);
    }

    @Test
    public void tagsFromRowsWithOffsetsAndFlagsAFullWindow() throws Exception {
        float[] o = {5f, 0f}, b = {0f, 5f};
        long[] starts = new long[16];
        float[][] rows = new float[16][];
        for (int i = 0; i < 16; i++) {
            starts[i] = i == 0 || i == 15 ? -1 : Math.max(0, 2 * i - 3); // "a", " b", " c", ...
            rows[i] = i == 3 ? b : o;
        }
        TextPredictor predictor = new TextPredictor(manifest("token-classification", "[\"O\", \"B-PER\"]"),
                new FakeModel(new ModelOutput(rows, starts)));
        Prediction p = predictor.predict("a b c d e f g h i j k l m n");
        assertEquals(1, p.entities().size());
        assertEquals("c", p.entities().get(0).text());
        assertTrue(p.truncated()); // 14 content tokens fill max_length 16 with <s> and </s>
    }

    @Test
    public void refusesToTagWithoutOffsetsAndToShowEmbeddings() throws Exception {
        TextPredictor predictor = new TextPredictor(manifest("token-classification", "[\"O\", \"B-PER\"]"),
                new FakeModel(new ModelOutput(new float[][] {{1f, 0f}}, null)));
        String message = assertThrows(BundleException.class, () -> predictor.predict("x")).getMessage();
        assertTrue(message, message.contains("no token offsets"));
        assertThrows(BundleException.class, () -> new TextPredictor(manifest("embedding", "[]"), null));
    }

    @Test
    public void reshapesFlatOutputs() {
        ModelOutput out = ModelOutput.fromFlat(new float[] {1, 2, 3, 4, 5, 6}, 2, 3, null);
        assertEquals(4f, out.logits()[1][0], 0);
        assertThrows(IllegalArgumentException.class, () -> ModelOutput.fromFlat(new float[5], 2, 3, null));
    }
}
