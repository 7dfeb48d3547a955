package org.edgedistill.demo.core;

import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.Charset;

/** Small bundles on disk for the manifest, verifier and catalog tests. */
final class TestBundles {
    static final Charset UTF_8 = Charset.forName("UTF-8");

    private TestBundles() {
    }

    /** A manifest with the given task and labels and an android variant, as JSON. */
    static String manifest(String task, String labels, String modelHash) {
        return "{\"task\": \"" + task + "\", \"labels\": " + labels + ", \"max_length\": 16, \"vocab_size\": 10,"
                + " \"inputs\": [\"text\"], \"outputs\": [\"logits\"], \"format_version\": 1,"
                + " \"input_prefix\": \"\", \"source\": {\"display_name\": \"tiny\"},"
                + " \"variants\": {\"string_input_ort\": \"model.android.ort\"},"
                + " \"files\": {\"model.android.ort\": \"" + modelHash + "\"}}";
    }

    /** Writes a bundle whose model file is {@code model} and whose manifest hashes it correctly. */
    static File write(File dir, String task, String labels, byte[] model) throws IOException {
        dir.mkdirs();
        write(new File(dir, "model.android.ort"), model);
        String hash = BundleVerifier.sha256(new DirectoryBundleFiles(dir), "model.android.ort");
        write(new File(dir, Manifest.FILE_NAME), manifest(task, labels, hash).getBytes(UTF_8));
        return dir;
    }

    static void write(File file, byte[] bytes) throws IOException {
        try (OutputStream out = new FileOutputStream(file)) {
            out.write(bytes);
        }
    }
}
