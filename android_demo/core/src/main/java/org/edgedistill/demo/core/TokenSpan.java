package org.edgedistill.demo.core;

/**
 * One content token (no special tokens): its word and its code-point span in the model input (the
 * manifest's input_prefix followed by the text), as the Python runtime gets them from
 * tokenizers' {@code Encoding.word_ids} and {@code offsets}. A word id of -1 means "no word".
 */
public final class TokenSpan {
    public final int wordId;
    public final int start;
    public final int end;

    public TokenSpan(int wordId, int start, int end) {
        this.wordId = wordId;
        this.start = start;
        this.end = end;
    }

    @Override
    public boolean equals(Object other) {
        if (!(other instanceof TokenSpan)) {
            return false;
        }
        TokenSpan that = (TokenSpan) other;
        return wordId == that.wordId && start == that.start && end == that.end;
    }

    @Override
    public int hashCode() {
        return (wordId * 31 + start) * 31 + end;
    }

    @Override
    public String toString() {
        return "word " + wordId + " [" + start + ", " + end + ")";
    }
}
