package org.edgedistill.demo.core;

import static org.junit.Assert.assertEquals;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.Test;

public class EntityDecoderTest {
    private static final List<String> LABELS = Arrays.asList("O", "B-PER", "I-PER", "B-LOC", "I-LOC");

    /** Logits that make {@code tag} the clear winner. */
    private static float[] tag(String tag) {
        float[] row = new float[LABELS.size()];
        row[LABELS.indexOf(tag)] = 5f;
        return row;
    }

    private static List<Entity> decode(String text, String prefix, int[][] tokens, String... tags) {
        List<TokenSpan> spans = new ArrayList<>();
        for (int[] t : tokens) {
            spans.add(new TokenSpan(t[0], t[1], t[2]));
        }
        float[][] logits = new float[tags.length][];
        for (int i = 0; i < tags.length; i++) {
            logits[i] = tag(tags[i]);
        }
        return EntityDecoder.decode(text, prefix, LABELS, spans, logits);
    }

    private static String describe(List<Entity> entities) {
        StringBuilder out = new StringBuilder();
        for (Entity e : entities) {
            out.append(e.label()).append('[').append(e.codePointStart()).append(',').append(e.codePointEnd())
                    .append(")=").append(e.text()).append(' ');
        }
        return out.toString().trim();
    }

    @Test
    public void bioTagsBecomeSpans() {
        String text = "Musa Ali ya je Kano";
        int[][] tokens = {{0, 0, 4}, {1, 4, 8}, {2, 8, 11}, {3, 11, 14}, {4, 14, 19}};
        assertEquals("PER[0,8)=Musa Ali LOC[15,19)=Kano",
                describe(decode(text, "", tokens, "B-PER", "I-PER", "O", "O", "B-LOC")));
        // I- without B- opens an entity; a change of kind closes one; B- after B- starts another
        assertEquals("PER[0,4)=Musa LOC[5,8)=Ali PER[9,11)=ya PER[12,14)=je",
                describe(decode(text, "", tokens, "I-PER", "I-LOC", "B-PER", "B-PER", "O")));
    }

    @Test
    public void laterSubwordsExtendTheirWordWhateverTheirTag() {
        String text = "Abdullahi ya";
        int[][] tokens = {{0, 0, 4}, {0, 4, 7}, {0, 7, 9}, {1, 9, 12}};
        assertEquals("PER[0,9)=Abdullahi", describe(decode(text, "", tokens, "B-PER", "O", "B-LOC", "O")));
    }

    @Test
    public void scoreIsTheMeanOverWords() {
        List<Entity> entities = EntityDecoder.decode("a b", "", LABELS,
                Arrays.asList(new TokenSpan(0, 0, 1), new TokenSpan(1, 1, 3)),
                new float[][] {tag("B-PER"), {0f, 0f, 1f, 0f, 0f}});
        double first = Text.softmax(tag("B-PER"))[1];
        double second = Text.softmax(new float[] {0f, 0f, 1f, 0f, 0f})[2];
        assertEquals((first + second) / 2, entities.get(0).score(), 1e-15);
    }

    @Test
    public void prefixOffsetsAreRemovedAndClampedAsInPython() {
        // input "query: Kano": tokens inside the prefix clamp to 0, as the Python runtime does
        int[][] tokens = {{0, 0, 6}, {1, 6, 7}, {2, 7, 11}};
        assertEquals("LOC[0,0)= LOC[0,4)=Kano",
                describe(decode("Kano", "query: ", tokens, "B-LOC", "O", "B-LOC")));
    }

    @Test
    public void offsetsAfterAnEmojiComeInBothUnits() {
        String text = "😂😂 Kano";
        List<Entity> entities = decode(text, "", new int[][] {{0, 0, 2}, {1, 2, 7}}, "O", "B-LOC");
        Entity kano = entities.get(0);
        assertEquals(3, kano.codePointStart()); // the space before "Kano" is not part of it
        assertEquals(5, kano.start());
        assertEquals("Kano", kano.text());
        assertEquals(kano.text(), text.substring(kano.start(), kano.end()));
    }

    @Test
    public void tokensWithoutAWordAreWordsOfTheirOwn() {
        int[][] tokens = {{-1, 0, 1}, {-1, 1, 2}};
        assertEquals("PER[0,1)=a PER[1,2)=b", describe(decode("ab", "", tokens, "B-PER", "B-PER")));
    }
}
