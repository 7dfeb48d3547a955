package org.edgedistill.demo.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.util.Arrays;
import org.junit.Test;

public class ManifestTest {
    private static final String GOOD = TestBundles.manifest("token-classification", "[\"O\", \"B-PER\", \"I-PER\"]",
            "ab12");

    private static String refusal(String json) {
        return assertThrows(BundleException.class, () -> Manifest.parse(json, "m.json")).getMessage();
    }

    @Test
    public void readsWhatTheAppNeeds() throws Exception {
        Manifest m = Manifest.parse(GOOD, "m.json");
        assertEquals(Task.TOKEN_CLASSIFICATION, m.task());
        assertEquals(Arrays.asList("O", "B-PER", "I-PER"), m.labels());
        assertEquals(16, m.maxLength());
        assertEquals("logits", m.logitsOutput());
        assertEquals("model.android.ort", m.androidModelFile());
        assertEquals("tiny", m.displayName());
        assertTrue(m.hasAndroidModel());
    }

    @Test
    public void ignoresKeysItDoesNotKnow() throws Exception {
        Manifest m = Manifest.parse(GOOD.replace("{\"task\"", "{\"added_later\": [1, {\"x\": null}], \"task\""), "m");
        assertEquals(3, m.labels().size());
    }

    @Test
    public void refusesAnotherFormatVersion() {
        String message = refusal(GOOD.replace("\"format_version\": 1", "\"format_version\": 2"));
        assertTrue(message, message.contains("format version 2") && message.contains("reads version 1"));
        assertTrue(refusal(GOOD.replace("\"format_version\": 1,", "")).contains("format version null"));
    }

    @Test
    public void refusesBadTaskLabelsAndLengths() {
        assertTrue(refusal(GOOD.replace("token-classification", "translation")).contains("task 'translation'"));
        assertTrue(refusal(GOOD.replace("[\"O\", \"B-PER\", \"I-PER\"]", "[]")).contains("lists no labels"));
        assertTrue(refusal(GOOD.replace("\"B-PER\", \"I-PER\"", "\"O\", \"I-PER\"")).contains("same label twice"));
        assertTrue(refusal(GOOD.replace("\"max_length\": 16", "\"max_length\": 1.5")).contains("max_length 1.5"));
        assertTrue(refusal(GOOD.replace("\"labels\": [", "\"labels\": [3, ")).contains("not a list of strings"));
    }

    @Test
    public void refusesAVariantWithoutAHash() {
        String json = GOOD.replace("\"model.android.ort\": \"ab12\"", "\"other\": \"ab12\"");
        assertTrue(refusal(json).contains("refers to model.android.ort but gives no hash"));
    }

    @Test
    public void refusesBrokenJsonInOneSentence() {
        assertTrue(refusal("{\"task\": ").startsWith("m.json is not valid JSON"));
        assertTrue(refusal("[1, 2]").contains("must hold a JSON object"));
    }

    @Test
    public void prefersTheOrtFormatStringModel() throws Exception {
        String both = GOOD.replace("\"variants\": {", "\"variants\": {\"string_input\": \"m.onnx\", ")
                .replace("\"files\": {", "\"files\": {\"m.onnx\": \"cd34\", ");
        assertEquals("model.android.ort", Manifest.parse(both, "m").androidModelFile());
        String onnxOnly = both.replace("\"string_input_ort\": \"model.android.ort\"", "\"ort\": \"model.android.ort\"");
        assertEquals("m.onnx", Manifest.parse(onnxOnly, "m").androidModelFile());
    }

    @Test
    public void saysHowToGetAnAndroidModel() throws Exception {
        Manifest m = Manifest.parse(GOOD.replace("\"string_input_ort\":", "\"ort\":"), "m");
        assertFalse(m.hasAndroidModel());
        String message = assertThrows(BundleException.class, m::androidModelFile).getMessage();
        assertTrue(message, message.contains("edgedistill export --target android"));
    }

    @Test
    public void jsonReaderHandlesEscapesAndNumbers() {
        Object value = Json.parse(" {\"a\": \"\\u00e9\\n\\\"\", \"b\": [-1.5e-3, 0, true, null]} ");
        assertEquals("{a=é\n\", b=[-0.0015, 0.0, true, null]}", value.toString());
        assertThrows(IllegalArgumentException.class, () -> Json.parse("{\"a\": 1} x"));
        assertThrows(IllegalArgumentException.class, () -> Json.parse("{\"a\" 1}"));
    }
}
