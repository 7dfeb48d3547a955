package org.edgedistill.demo.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;

import java.util.List;
import java.util.Map;
import org.junit.Test;

/** Same label and probabilities as the Python runtime, from the same logits, on real tweets. */
public class GoldenClassificationTest {
    @Test
    public void matchesThePythonRuntime() throws Exception {
        Map<String, Object> golden = Golden.load("sequence-classification");
        Manifest manifest = Golden.manifest(golden);
        TextPredictor predictor = new TextPredictor(manifest, null);
        List<Map<String, Object>> cases = Golden.cases(golden);
        assertFalse(cases.isEmpty());
        for (Map<String, Object> c : cases) {
            String where = (String) c.get("source");
            Prediction prediction = predictor.decode((String) c.get("text"),
                    new ModelOutput(Golden.matrix(c.get("logits")), null), 0);
            @SuppressWarnings("unchecked")
            Map<String, Object> expected = (Map<String, Object>) c.get("expected");
            Classification got = prediction.classification();
            assertEquals(where, expected.get("label"), got.label());
            assertEquals(where, (Double) expected.get("score"), got.score(), 1e-9);
            @SuppressWarnings("unchecked")
            Map<String, Object> probabilities = (Map<String, Object>) expected.get("probabilities");
            assertEquals(where, manifest.labels(), new java.util.ArrayList<>(got.probabilities().keySet()));
            for (String label : manifest.labels()) {
                assertEquals(where + " " + label, (Double) probabilities.get(label),
                        got.probabilities().get(label), 1e-9);
            }
        }
    }
}
