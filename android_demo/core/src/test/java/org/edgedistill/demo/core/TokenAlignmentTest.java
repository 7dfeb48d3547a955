package org.edgedistill.demo.core;

import static org.junit.Assert.assertEquals;

import java.util.ArrayList;
import java.util.List;
import org.junit.Test;

public class TokenAlignmentTest {
    private static List<TokenSpan> spans(int[][] rows) {
        List<TokenSpan> out = new ArrayList<>();
        for (int[] r : rows) {
            out.add(new TokenSpan(r[0], r[1], r[2]));
        }
        return out;
    }

    /**
     * Byte starts as onnxruntime-extensions' SentencepieceTokenizer reported them for this text
     * (tiny fixture tokenizer), and the spans and words tokenizers gave for the same tokens:
     * ▁S an n u ▁da ▁zu wa ▁Ka n o ▁ 😂 ▁ya u. Note the double space and the emoji.
     */
    @Test
    public void recoversTokenizersSpansAndWords() {
        String text = "Sannu da  zuwa Kano 😂 yau";
        long[] starts = {0, 1, 3, 4, 5, 8, 12, 14, 17, 18, 19, 20, 24, 27};
        List<TokenSpan> want = spans(new int[][] {{0, 0, 1}, {0, 1, 3}, {0, 3, 4}, {0, 4, 5}, {1, 5, 8},
            {2, 9, 12}, {2, 12, 14}, {3, 14, 17}, {3, 17, 18}, {3, 18, 19}, {4, 19, 20}, {4, 20, 21},
            {5, 21, 24}, {5, 24, 25}});
        assertEquals(want, TokenAlignment.fromUtf8Starts(text, starts));
    }

    @Test
    public void theAddedSpaceBeforeATextCoversItsFirstCharacter() {
        // "@user" tokenizes as a lone "▁" (nothing under it) then "@": both start at byte 0
        List<TokenSpan> got = TokenAlignment.fromUtf8Starts("@user hi", new long[] {0, 0, 1, 5});
        assertEquals(spans(new int[][] {{0, 0, 1}, {0, 0, 1}, {0, 1, 5}, {1, 5, 8}}), got);
    }

    @Test
    public void bytesMapToCodePoints() {
        int[] cps = "aé😂b".codePoints().toArray(); // 1 + 2 + 4 + 1 bytes
        assertEquals(0, TokenAlignment.codePointAtByte(cps, 0));
        assertEquals(1, TokenAlignment.codePointAtByte(cps, 1));
        assertEquals(2, TokenAlignment.codePointAtByte(cps, 3));
        assertEquals(2, TokenAlignment.codePointAtByte(cps, 5)); // inside the emoji
        assertEquals(3, TokenAlignment.codePointAtByte(cps, 7));
        assertEquals(4, TokenAlignment.codePointAtByte(cps, 8));
    }
}
