package org.edgedistill.demo.core;

/**
 * What a string-input model returns for one text: logits as {@code rows x labels} (one row for
 * sequence classification, one per token, special tokens included, for token classification) and,
 * for token classification, the UTF-8 byte at which each row's token starts in the model input
 * (-1 for special and padding tokens).
 */
public final class ModelOutput {
    private final float[][] logits;
    private final long[] tokenStarts;

    public ModelOutput(float[][] logits, long[] tokenStarts) {
        if (tokenStarts != null && tokenStarts.length != logits.length) {
            throw new IllegalArgumentException(logits.length + " rows of logits but " + tokenStarts.length
                    + " token offsets");
        }
        this.logits = logits;
        this.tokenStarts = tokenStarts;
    }

    /** Reshapes a flat row-major {@code [1, columns]} or {@code [1, rows, columns]} buffer. */
    public static ModelOutput fromFlat(float[] flat, int rows, int columns, long[] tokenStarts) {
        if (flat.length != rows * columns) {
            throw new IllegalArgumentException(flat.length + " values cannot be " + rows + " x " + columns);
        }
        float[][] logits = new float[rows][columns];
        for (int r = 0; r < rows; r++) {
            System.arraycopy(flat, r * columns, logits[r], 0, columns);
        }
        return new ModelOutput(logits, tokenStarts);
    }

    public float[][] logits() {
        return logits;
    }

    /** Token start offsets, or null where the model does not report them. */
    public long[] tokenStarts() {
        return tokenStarts;
    }
}
