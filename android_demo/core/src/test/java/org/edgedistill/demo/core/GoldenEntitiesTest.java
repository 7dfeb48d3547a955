package org.edgedistill.demo.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.BeforeClass;
import org.junit.Test;

/**
 * Same entities, labels, scores and offsets as the Python runtime on real MasakhaNER sentences and
 * AfriSenti tweets with emoji, from the same logits.
 */
public class GoldenEntitiesTest {
    private static Manifest manifest;
    private static List<Map<String, Object>> cases;

    @BeforeClass
    public static void load() throws Exception {
        Map<String, Object> golden = Golden.load("token-classification");
        manifest = Golden.manifest(golden);
        cases = Golden.cases(golden);
        assertTrue(cases.size() >= 5);
    }

    private static List<TokenSpan> spans(Map<String, Object> c) {
        List<TokenSpan> spans = new ArrayList<>();
        for (Object token : (List<?>) c.get("tokens")) {
            List<?> t = (List<?>) token;
            spans.add(new TokenSpan(Golden.integer(t.get(0)), Golden.integer(t.get(1)), Golden.integer(t.get(2))));
        }
        return spans;
    }

    @SuppressWarnings("unchecked")
    private static List<Map<String, Object>> expected(Map<String, Object> c) {
        return (List<Map<String, Object>>) c.get("expected");
    }

    @Test
    public void sameEntitiesFromTheRuntimesTokenSpans() {
        for (Map<String, Object> c : cases) {
            String text = (String) c.get("text");
            List<Entity> got = EntityDecoder.decode(text, manifest.inputPrefix(), manifest.labels(), spans(c),
                    Golden.matrix(c.get("logits")));
            assertSameEntities((String) c.get("source"), text, expected(c), got, false);
        }
    }

    @Test
    public void emojiShiftUtf16OffsetsAwayFromCodePointOffsets() {
        int shifted = 0;
        for (Map<String, Object> c : cases) {
            String text = (String) c.get("text");
            for (Entity e : EntityDecoder.decode(text, manifest.inputPrefix(), manifest.labels(), spans(c),
                    Golden.matrix(c.get("logits")))) {
                if (e.start() != e.codePointStart()) {
                    shifted++;
                    assertEquals(e.text(), text.substring(e.start(), e.end()));
                    assertEquals(e.start(), text.offsetByCodePoints(0, e.codePointStart()));
                }
            }
        }
        assertTrue("the golden set should hold entities after an emoji", shifted > 0);
    }

    @Test
    public void tokenSpansFromTheGraphsByteOffsetsMatchTheRuntimes() {
        int compared = 0;
        for (Map<String, Object> c : cases) {
            if (c.get("utf8_starts") == null) {
                continue; // the in-graph tokenizer split this text differently, or was not available
            }
            compared++;
            String input = manifest.inputPrefix() + c.get("text");
            List<TokenSpan> got = TokenAlignment.fromUtf8Starts(input, starts(c));
            List<TokenSpan> want = spans(c);
            assertEquals(want.size(), got.size());
            for (int i = 0; i < want.size(); i++) {
                String where = c.get("source") + " token " + i;
                assertEquals(where, want.get(i).wordId, got.get(i).wordId);
                assertEquals(where, want.get(i).start, got.get(i).start);
                assertTrue(where + ": " + want.get(i) + " vs " + got.get(i),
                        want.get(i).end == got.get(i).end || onlyCombiningMarks(input, want.get(i).end, got.get(i).end));
            }
        }
        if (compared == 0) {
            org.junit.Assume.assumeTrue("no golden case carries the graph's byte offsets", false);
        }
    }

    @Test
    public void theAppsPathFromModelOutputGivesTheRuntimesEntities() throws Exception {
        TextPredictor predictor = new TextPredictor(manifest, null);
        for (Map<String, Object> c : cases) {
            if (c.get("utf8_starts") == null) {
                continue;
            }
            float[][] content = Golden.matrix(c.get("logits"));
            long[] starts = starts(c);
            // as the Android model gives them: <s> first and </s> last, with offset -1
            float[][] rows = new float[content.length + 2][];
            long[] offsets = new long[content.length + 2];
            rows[0] = new float[manifest.labels().size()];
            rows[rows.length - 1] = rows[0];
            offsets[0] = -1;
            offsets[offsets.length - 1] = -1;
            for (int i = 0; i < content.length; i++) {
                rows[i + 1] = content[i];
                offsets[i + 1] = starts[i];
            }
            String text = (String) c.get("text");
            Prediction prediction = predictor.decode(text, new ModelOutput(rows, offsets), 1.5);
            assertSameEntities((String) c.get("source"), text, expected(c), prediction.entities(), true);
            assertEquals(1.5, prediction.inferenceMillis(), 0);
        }
    }

    private static long[] starts(Map<String, Object> c) {
        List<?> values = (List<?>) c.get("utf8_starts");
        long[] starts = new long[values.size()];
        for (int i = 0; i < starts.length; i++) {
            starts[i] = Golden.integer(values.get(i));
        }
        return starts;
    }

    /**
     * Entities equal; with {@code allowMarks}, an end may also lie later by combining marks only
     * (the documented difference of spans recovered from the graph, see {@link TokenAlignment}).
     */
    private static void assertSameEntities(String source, String text, List<Map<String, Object>> want,
                                           List<Entity> got, boolean allowMarks) {
        assertEquals(source + ": " + got, want.size(), got.size());
        for (int i = 0; i < want.size(); i++) {
            Map<String, Object> w = want.get(i);
            Entity e = got.get(i);
            String where = source + " entity " + i + " " + w;
            assertEquals(where, w.get("label"), e.label());
            assertEquals(where, Golden.integer(w.get("start")), e.codePointStart());
            int end = Golden.integer(w.get("end"));
            if (allowMarks && end != e.codePointEnd()) {
                assertTrue(where + " vs " + e, onlyCombiningMarks(text, end, e.codePointEnd()));
            } else {
                assertEquals(where, end, e.codePointEnd());
                assertEquals(where, w.get("text"), e.text());
            }
            assertEquals(where, (Double) w.get("score"), e.score(), 1e-9);
            assertEquals(where, e.text(), text.substring(e.start(), e.end()));
            assertEquals(where, e.start(), text.offsetByCodePoints(0, e.codePointStart()));
        }
    }

    private static boolean onlyCombiningMarks(String text, int from, int to) {
        if (to <= from) {
            return false;
        }
        String extra = Text.codePointSlice(text, from, to);
        for (int i = 0; i < extra.length(); i++) {
            if (Character.getType(extra.charAt(i)) != Character.NON_SPACING_MARK) {
                return false;
            }
        }
        return true;
    }
}
