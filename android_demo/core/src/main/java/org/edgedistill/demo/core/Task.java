package org.edgedistill.demo.core;

/** What a bundle's model does, as named in the manifest. */
public enum Task {
    SEQUENCE_CLASSIFICATION("sequence-classification"),
    TOKEN_CLASSIFICATION("token-classification"),
    EMBEDDING("embedding");

    private final String id;

    Task(String id) {
        this.id = id;
    }

    /** The manifest's spelling, e.g. "token-classification". */
    public String id() {
        return id;
    }

    /** The task with this manifest name, or null. */
    public static Task fromName(String name) {
        for (Task task : values()) {
            if (task.id.equals(name)) {
                return task;
            }
        }
        return null;
    }
}
