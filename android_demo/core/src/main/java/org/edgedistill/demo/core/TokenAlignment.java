package org.edgedistill.demo.core;

import java.util.ArrayList;
import java.util.List;

/**
 * Token spans and words from what the in-graph SentencePiece tokenizer reports: the UTF-8 byte at
 * which each content token starts in the model input (a piece that begins with "▁" starts at the
 * whitespace before its word). The rules reproduce the spans of tokenizers' XLM-R tokenizer, which
 * the Python runtime uses:
 *
 * <ul>
 *   <li>a token that starts at whitespace, or the first token, begins a new word;
 *   <li>a token that starts on a run of whitespace takes only the last whitespace character of it
 *       (the normaliser collapses the run to one "▁");
 *   <li>a token ends where the next one starts, the last one at the end of the input; a token with
 *       nothing under it (the "▁" added before a text that does not start with a space) covers the
 *       next character.
 * </ul>
 *
 * <p>Where the normaliser composes a letter with a following combining mark (decomposed Yoruba
 * such as "o" + U+0300), tokenizers aligns the composed letter to the base character only, so its
 * token spans end before the mark; here spans run up to the next token and keep it. Entities agree
 * either way: both the Python runtime and {@link EntityDecoder} extend an entity over trailing
 * combining marks and drop the leading space a "▁" stands for.
 */
public final class TokenAlignment {
    private TokenAlignment() {
    }

    /** Spans and word ids for tokens starting at the given UTF-8 byte offsets of {@code input}. */
    public static List<TokenSpan> fromUtf8Starts(String input, long[] byteStarts) {
        int[] codePoints = input.codePoints().toArray();
        int[] starts = new int[byteStarts.length];
        for (int i = 0; i < byteStarts.length; i++) {
            starts[i] = codePointAtByte(codePoints, byteStarts[i]);
        }
        List<TokenSpan> spans = new ArrayList<>(starts.length);
        int word = -1;
        for (int i = 0; i < starts.length; i++) {
            int first = starts[i];
            int next = i + 1 < starts.length ? Math.max(first, starts[i + 1]) : codePoints.length;
            if (i == 0 || (first < codePoints.length && isSpace(codePoints[first]))) {
                word++;
            }
            int start = first;
            while (start < next - 1 && isSpace(codePoints[start]) && isSpace(codePoints[start + 1])) {
                start++;
            }
            int end = next > start ? next : Math.min(start + 1, codePoints.length);
            spans.add(new TokenSpan(word, start, end));
        }
        return spans;
    }

    /** The index of the code point that contains UTF-8 byte {@code offset} (the length past the end). */
    static int codePointAtByte(int[] codePoints, long offset) {
        long bytes = 0;
        for (int i = 0; i < codePoints.length; i++) {
            bytes += utf8Length(codePoints[i]);
            if (offset < bytes) {
                return i;
            }
        }
        return codePoints.length;
    }

    static int utf8Length(int codePoint) {
        if (codePoint < 0x80) {
            return 1;
        }
        if (codePoint < 0x800) {
            return 2;
        }
        return codePoint < 0x10000 ? 3 : 4;
    }

    /** Whitespace as SentencePiece's normaliser sees it: Java whitespace plus Unicode space separators. */
    static boolean isSpace(int codePoint) {
        return Character.isWhitespace(codePoint) || Character.isSpaceChar(codePoint);
    }
}
