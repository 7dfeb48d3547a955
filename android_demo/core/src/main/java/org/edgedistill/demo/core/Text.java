package org.edgedistill.demo.core;

/**
 * Text helpers shared by the decoders.
 *
 * <p>Offsets: the Python runtime reports entity offsets as indices into a Python str, i.e. in
 * Unicode code points; Java and Kotlin strings index UTF-16 code units, where an emoji outside the
 * Basic Multilingual Plane takes two. The core keeps both: {@link Entity#codePointStart()} equals
 * Python's {@code start}, {@link Entity#start()} is the UTF-16 index that {@code String.substring}
 * and Android text spans take.
 */
public final class Text {
    private Text() {
    }

    /**
     * The text with every unpaired surrogate replaced by U+FFFD, as the Python runtime's clean_text
     * does, so that code-point offsets agree and the UTF-8 sent to the model is well formed.
     */
    public static String clean(String text) {
        StringBuilder out = null;
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            boolean paired = Character.isHighSurrogate(c) && i + 1 < text.length()
                    && Character.isLowSurrogate(text.charAt(i + 1));
            if (paired) {
                if (out != null) {
                    out.append(c).append(text.charAt(i + 1));
                }
                i++;
                continue;
            }
            boolean lone = Character.isSurrogate(c);
            if (lone && out == null) {
                out = new StringBuilder(text.length()).append(text, 0, i);
            }
            if (out != null) {
                out.append(lone ? '\uFFFD' : c);
            }
        }
        return out == null ? text : out.toString();
    }

    /** The UTF-16 index of the code point with index {@code codePoint} (clamped to the text). */
    public static int utf16Index(String text, int codePoint) {
        int total = text.codePointCount(0, text.length());
        return text.offsetByCodePoints(0, Math.max(0, Math.min(codePoint, total)));
    }

    /** The substring between two code-point indices, as Python's {@code text[start:end]}. */
    public static String codePointSlice(String text, int start, int end) {
        int from = utf16Index(text, start);
        int to = utf16Index(text, end);
        return to > from ? text.substring(from, to) : "";
    }

    /** Softmax in double precision with the maximum subtracted, as the Python runtime computes it. */
    public static double[] softmax(float[] logits) {
        double max = Double.NEGATIVE_INFINITY;
        for (float logit : logits) {
            max = Math.max(max, logit);
        }
        double[] out = new double[logits.length];
        double sum = 0;
        for (int i = 0; i < logits.length; i++) {
            out[i] = Math.exp((double) logits[i] - max);
            sum += out[i];
        }
        for (int i = 0; i < out.length; i++) {
            out[i] /= sum;
        }
        return out;
    }

    /** Index of the largest value; the first one on ties, as numpy's argmax. */
    public static int argmax(double[] values) {
        int best = 0;
        for (int i = 1; i < values.length; i++) {
            if (values[i] > values[best]) {
                best = i;
            }
        }
        return best;
    }
}
