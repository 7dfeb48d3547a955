package org.edgedistill.demo.core;

import java.util.ArrayList;
import java.util.List;

/**
 * BIO tags into entities, step for step as the Python runtime's Predictor._entities: each word
 * takes the tag of its first sub-word (later sub-words only extend its end), a "B-" tag or a change
 * of kind starts an entity, "I-" of the same kind extends it, anything else ends it; an entity's
 * score is the mean of its words' tag probabilities.
 */
public final class EntityDecoder {
    private EntityDecoder() {
    }

    /**
     * @param text   the input as the user typed it (after {@link Text#clean})
     * @param prefix the manifest's input_prefix, which the token spans include
     * @param tokens content tokens in order, spans in code points of {@code prefix + text}
     * @param logits one row of label logits per token
     */
    public static List<Entity> decode(String text, String prefix, List<String> labels, List<TokenSpan> tokens,
                                      float[][] logits) {
        if (tokens.size() != logits.length) {
            throw new IllegalArgumentException(tokens.size() + " token spans for " + logits.length + " rows of logits");
        }
        int prefixLength = prefix.codePointCount(0, prefix.length());
        List<Word> words = new ArrayList<>();
        Integer lastWord = null;
        for (int i = 0; i < tokens.size(); i++) {
            TokenSpan token = tokens.get(i);
            int start = Math.max(0, token.start - prefixLength);
            int end = Math.max(0, token.end - prefixLength);
            if (token.wordId >= 0 && lastWord != null && token.wordId == lastWord && !words.isEmpty()) {
                words.get(words.size() - 1).end = end;
                continue;
            }
            lastWord = token.wordId >= 0 ? token.wordId : null;
            double[] probs = Text.softmax(logits[i]);
            int best = Text.argmax(probs);
            words.add(new Word(labels.get(best), probs[best], start, end));
        }
        List<Entity> entities = new ArrayList<>();
        Span current = null;
        for (Word word : words) {
            String kind = word.tag.startsWith("B-") || word.tag.startsWith("I-") ? word.tag.substring(2) : null;
            if (kind != null && kind.isEmpty()) {
                kind = null; // a bare "B-" names no kind, as in Python where "" is false
            }
            if (kind != null && (word.tag.startsWith("B-") || current == null || !current.kind.equals(kind))) {
                if (current != null) {
                    entities.add(current.toEntity(text));
                }
                current = new Span(kind, word);
            } else if (kind != null) {
                current.end = word.end;
                current.scoreSum += word.score;
                current.words++;
            } else {
                if (current != null) {
                    entities.add(current.toEntity(text));
                }
                current = null;
            }
        }
        if (current != null) {
            entities.add(current.toEntity(text));
        }
        return entities;
    }

    private static final class Word {
        final String tag;
        final double score;
        final int start;
        int end;

        Word(String tag, double score, int start, int end) {
            this.tag = tag;
            this.score = score;
            this.start = start;
            this.end = end;
        }
    }

    private static final class Span {
        final String kind;
        final int start;
        int end;
        double scoreSum;
        int words = 1;

        Span(String kind, Word first) {
            this.kind = kind;
            this.start = first.start;
            this.end = first.end;
            this.scoreSum = first.score;
        }

        /** As the Python runtime: drop the space a "▁" stands for, keep trailing combining marks. */
        Entity toEntity(String text) {
            int[] codePoints = text.codePoints().toArray();
            int first = start;
            int last = end;
            while (first < last && first < codePoints.length && TokenAlignment.isSpace(codePoints[first])) {
                first++;
            }
            while (last < codePoints.length && Character.getType(codePoints[last]) == Character.NON_SPACING_MARK) {
                last++;
            }
            return Entity.over(text, kind, first, last, scoreSum / words);
        }
    }
}
