package org.edgedistill.demo.core;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The parts of a bundle's {@code edgedistill.json} that the app needs (runtime/bundle.py is the
 * reference). Unlike the Python reader it ignores keys it does not know, so a manifest that gains a
 * field within the same format version still opens; prepare_assets has already checked the
 * manifest with the Python reader before it reached the app.
 */
public final class Manifest {
    /** The manifest format this app reads, as runtime/bundle.py's FORMAT_VERSION. */
    public static final int FORMAT_VERSION = 1;
    public static final String FILE_NAME = "edgedistill.json";
    /**
     * The variants that hold the string-input model (tokenizer in the graph), in order of preference:
     * ORT format, then ONNX; onnxruntime-android's full package loads both. Names as export/'s
     * bundle writer gives them ({@code edgedistill export --target android} writes the first).
     */
    public static final List<String> ANDROID_VARIANTS =
            Collections.unmodifiableList(Arrays.asList("string_input_ort", "string_input"));

    private final Task task;
    private final List<String> labels;
    private final int maxLength;
    private final String inputPrefix;
    private final List<String> outputs;
    private final Map<String, String> variants;
    private final Map<String, String> files;
    private final Map<String, Object> source;
    private final Map<String, String> packages;

    private Manifest(Task task, List<String> labels, int maxLength, String inputPrefix, List<String> outputs,
                     Map<String, String> variants, Map<String, String> files, Map<String, Object> source,
                     Map<String, String> packages) {
        this.task = task;
        this.labels = Collections.unmodifiableList(labels);
        this.maxLength = maxLength;
        this.inputPrefix = inputPrefix;
        this.outputs = Collections.unmodifiableList(outputs);
        this.variants = Collections.unmodifiableMap(variants);
        this.files = Collections.unmodifiableMap(files);
        this.source = Collections.unmodifiableMap(source);
        this.packages = Collections.unmodifiableMap(packages);
    }

    /** Parses and checks a manifest; {@code where} names it in error messages. */
    public static Manifest parse(String json, String where) throws BundleException {
        Object root;
        try {
            root = Json.parse(json);
        } catch (IllegalArgumentException e) {
            throw new BundleException(where + " is not valid JSON (" + e.getMessage() + ")");
        }
        if (!(root instanceof Map)) {
            throw new BundleException(where + " must hold a JSON object");
        }
        Map<?, ?> data = (Map<?, ?>) root;
        Object version = data.get("format_version");
        if (!(version instanceof Double) || ((Double) version).doubleValue() != FORMAT_VERSION) {
            throw new BundleException(where + " has format version " + render(version) + "; this app reads version "
                    + FORMAT_VERSION + " (update the app or re-export the bundle)");
        }
        Task task = Task.fromName(string(data, "task", where));
        if (task == null) {
            throw new BundleException(where + " has task " + render(data.get("task"))
                    + "; expected one of sequence-classification, token-classification, embedding");
        }
        List<String> labels = strings(data, "labels", where);
        if (task != Task.EMBEDDING && labels.isEmpty()) {
            throw new BundleException(where + " is for " + task.id() + " but lists no labels");
        }
        if (new HashSet<>(labels).size() != labels.size()) {
            throw new BundleException(where + " lists the same label twice in " + labels);
        }
        Object length = data.get("max_length");
        if (!isInteger(length) || ((Double) length).intValue() < 2) {
            throw new BundleException(where + " has max_length " + render(length) + "; expected an integer >= 2");
        }
        Object prefix = data.get("input_prefix");
        Manifest manifest = new Manifest(task, labels, ((Double) length).intValue(),
                prefix instanceof String ? (String) prefix : "", strings(data, "outputs", where),
                stringMap(data, "variants", where), stringMap(data, "files", where), objectMap(data, "source"),
                stringMap(data, "packages", where));
        if (manifest.outputs.isEmpty()) {
            throw new BundleException(where + " names no model outputs");
        }
        for (String file : manifest.variants.values()) {
            if (!manifest.files.containsKey(file)) {
                throw new BundleException(where + " refers to " + file + " but gives no hash for it");
            }
        }
        return manifest;
    }

    public Task task() {
        return task;
    }

    public List<String> labels() {
        return labels;
    }

    public int maxLength() {
        return maxLength;
    }

    /** Text the model expects before the input (e.g. "query: " for e5); the android graph adds it itself. */
    public String inputPrefix() {
        return inputPrefix;
    }

    /** The name of the output that holds the logits. */
    public String logitsOutput() {
        return outputs.get(0);
    }

    public Map<String, String> variants() {
        return variants;
    }

    /** Relative path to SHA-256, for every file of the bundle. */
    public Map<String, String> files() {
        return files;
    }

    /** Package versions at export time, e.g. "onnxruntime". */
    public Map<String, String> packages() {
        return packages;
    }

    public boolean hasAndroidModel() {
        for (String key : ANDROID_VARIANTS) {
            if (variants.containsKey(key)) {
                return true;
            }
        }
        return false;
    }

    /** The string-input model file, or an error saying the bundle was not exported for Android. */
    public String androidModelFile() throws BundleException {
        for (String key : ANDROID_VARIANTS) {
            if (variants.containsKey(key)) {
                return variants.get(key);
            }
        }
        throw new BundleException("the bundle has no string-input model (variants: " + variants.keySet()
                + "); export it with `edgedistill export --target android`");
    }

    /** A short human name: source.display_name or source.model, else null. */
    public String displayName() {
        for (String key : new String[] {"display_name", "model"}) {
            Object value = source.get(key);
            if (value instanceof String && !((String) value).isEmpty()) {
                return (String) value;
            }
        }
        return null;
    }

    // ---------------------------------------------------------------- reading helpers

    private static String string(Map<?, ?> data, String key, String where) throws BundleException {
        Object value = data.get(key);
        if (!(value instanceof String)) {
            throw new BundleException(where + " has no string \"" + key + "\"");
        }
        return (String) value;
    }

    private static List<String> strings(Map<?, ?> data, String key, String where) throws BundleException {
        Object value = data.get(key);
        if (value == null) {
            return new ArrayList<>();
        }
        if (!(value instanceof List)) {
            throw new BundleException(where + " has \"" + key + "\" that is not a list of strings");
        }
        List<String> out = new ArrayList<>();
        for (Object item : (List<?>) value) {
            if (!(item instanceof String)) {
                throw new BundleException(where + " has \"" + key + "\" that is not a list of strings");
            }
            out.add((String) item);
        }
        return out;
    }

    private static Map<String, String> stringMap(Map<?, ?> data, String key, String where) throws BundleException {
        Map<String, String> out = new LinkedHashMap<>();
        Object value = data.get(key);
        if (value == null) {
            return out;
        }
        if (!(value instanceof Map)) {
            throw new BundleException(where + " has \"" + key + "\" that is not an object of strings");
        }
        for (Map.Entry<?, ?> entry : ((Map<?, ?>) value).entrySet()) {
            if (!(entry.getValue() instanceof String)) {
                throw new BundleException(where + " has \"" + key + "\" that is not an object of strings");
            }
            out.put((String) entry.getKey(), (String) entry.getValue());
        }
        return out;
    }

    private static Map<String, Object> objectMap(Map<?, ?> data, String key) {
        Map<String, Object> out = new LinkedHashMap<>();
        Object value = data.get(key);
        if (value instanceof Map) {
            for (Map.Entry<?, ?> entry : ((Map<?, ?>) value).entrySet()) {
                out.put((String) entry.getKey(), entry.getValue());
            }
        }
        return out;
    }

    private static boolean isInteger(Object value) {
        if (!(value instanceof Double)) {
            return false;
        }
        double d = (Double) value;
        return d == Math.rint(d) && Math.abs(d) < Integer.MAX_VALUE;
    }

    private static String render(Object value) {
        if (value instanceof Double && isInteger(value)) {
            return Integer.toString(((Double) value).intValue());
        }
        return value instanceof String ? "'" + value + "'" : String.valueOf(value);
    }
}
