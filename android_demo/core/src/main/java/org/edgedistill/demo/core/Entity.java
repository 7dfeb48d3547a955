package org.edgedistill.demo.core;

/**
 * A labelled span of the input. {@link #start()}/{@link #end()} are UTF-16 indices (what
 * {@code String.substring} and Android spans take); {@link #codePointStart()}/{@link #codePointEnd()}
 * are code-point indices, the unit of the Python runtime's {@code Entity.start}/{@code end}.
 */
public final class Entity {
    private final String label;
    private final String text;
    private final int start;
    private final int end;
    private final int codePointStart;
    private final int codePointEnd;
    private final double score;

    public Entity(String label, String text, int start, int end, int codePointStart, int codePointEnd,
                  double score) {
        this.label = label;
        this.text = text;
        this.start = start;
        this.end = end;
        this.codePointStart = codePointStart;
        this.codePointEnd = codePointEnd;
        this.score = score;
    }

    /** An entity over code points {@code [cpStart, cpEnd)} of {@code input}. */
    static Entity over(String input, String label, int cpStart, int cpEnd, double score) {
        int start = Text.utf16Index(input, cpStart);
        int end = Math.max(start, Text.utf16Index(input, cpEnd));
        return new Entity(label, input.substring(start, end), start, end, cpStart, cpEnd, score);
    }

    public String label() {
        return label;
    }

    public String text() {
        return text;
    }

    public int start() {
        return start;
    }

    public int end() {
        return end;
    }

    public int codePointStart() {
        return codePointStart;
    }

    public int codePointEnd() {
        return codePointEnd;
    }

    /** Mean probability of the entity's words' tags. */
    public double score() {
        return score;
    }

    @Override
    public String toString() {
        return label + " '" + text + "' [" + codePointStart + ", " + codePointEnd + ") " + score;
    }
}
