package org.edgedistill.demo.core;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.Charset;
import java.util.List;
import java.util.Map;

/**
 * The golden files written by android_demo/make_golden.py: what the Python runtime answered for
 * real sentences, with the logits it saw. Read from the directory in the system property
 * {@code edgedistill.golden} when set (tests/test_android_jvm.py points it at freshly generated
 * files), else from the committed copies on the test classpath.
 */
final class Golden {
    private Golden() {
    }

    static Map<String, Object> load(String task) throws IOException {
        String dir = System.getProperty("edgedistill.golden");
        String name = task + ".json";
        InputStream in = dir != null && !dir.isEmpty() ? new FileInputStream(new File(dir, name))
                : Golden.class.getResourceAsStream("/golden/" + name);
        if (in == null) {
            throw new IOException("no golden file " + name + " on the test classpath; run android_demo/make_golden.py");
        }
        try {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            byte[] buffer = new byte[1 << 16];
            for (int n = in.read(buffer); n >= 0; n = in.read(buffer)) {
                out.write(buffer, 0, n);
            }
            @SuppressWarnings("unchecked")
            Map<String, Object> data = (Map<String, Object>) Json.parse(new String(out.toByteArray(),
                    Charset.forName("UTF-8")));
            return data;
        } finally {
            in.close();
        }
    }

    static Manifest manifest(Map<String, Object> golden) throws BundleException {
        return Manifest.parse((String) golden.get("manifest_json"), "golden manifest");
    }

    @SuppressWarnings("unchecked")
    static List<Map<String, Object>> cases(Map<String, Object> golden) {
        return (List<Map<String, Object>>) golden.get("cases");
    }

    static float[][] matrix(Object value) {
        List<?> rows = (List<?>) value;
        float[][] out = new float[rows.size()][];
        for (int r = 0; r < out.length; r++) {
            List<?> row = (List<?>) rows.get(r);
            out[r] = new float[row.size()];
            for (int c = 0; c < out[r].length; c++) {
                out[r][c] = ((Double) row.get(c)).floatValue();
            }
        }
        return out;
    }

    static int integer(Object value) {
        return ((Double) value).intValue();
    }
}
