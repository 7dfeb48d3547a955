package org.edgedistill.demo.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertSame;

import org.junit.Test;

public class TextTest {
    @Test
    public void cleanReplacesOnlyLoneSurrogates() {
        String emoji = "a 😂 b";
        assertSame(emoji, Text.clean(emoji));
        assertEquals("lone \uFFFD x \uFFFD😂", Text.clean("lone \ud800 x \ude00😂"));
        assertEquals("\uFFFD", Text.clean("\ud83d"));
    }

    @Test
    public void codePointsAndUtf16IndicesDifferAfterAnEmoji() {
        String text = "😂 Kano";
        assertEquals(3, Text.utf16Index(text, 2)); // the emoji is two UTF-16 units, one code point
        assertEquals("Kano", Text.codePointSlice(text, 2, 6));
        assertEquals(text.length(), Text.utf16Index(text, 99));
        assertEquals("", Text.codePointSlice(text, 4, 2));
    }

    @Test
    public void softmaxAndArgmaxAsNumpy() {
        double[] p = Text.softmax(new float[] {1f, 2f, 3f});
        assertArrayEquals(new double[] {0.09003057317038046, 0.24472847105479764, 0.6652409557748219}, p, 1e-15);
        assertEquals(2, Text.argmax(p));
        assertEquals(0, Text.argmax(new double[] {0.5, 0.5}));
        assertEquals(1.0, Text.softmax(new float[] {1000f, -1000f})[0], 0);
    }

    @Test
    public void classificationFollowsLabelOrder() {
        Classification c = Classification.fromLogits(new float[] {0.1f, 2f, -1f},
                java.util.Arrays.asList("negative", "neutral", "positive"));
        assertEquals("neutral", c.label());
        assertEquals(java.util.Arrays.asList("negative", "neutral", "positive"),
                new java.util.ArrayList<>(c.probabilities().keySet()));
        assertEquals(c.score(), c.probabilities().get("neutral"), 0);
    }
}
