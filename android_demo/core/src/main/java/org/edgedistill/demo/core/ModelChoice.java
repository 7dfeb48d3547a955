package org.edgedistill.demo.core;

/** One bundle the user can pick: its folder name, its manifest and where its files are. */
public final class ModelChoice {
    private final String name;
    private final Manifest manifest;
    private final BundleFiles files;

    public ModelChoice(String name, Manifest manifest, BundleFiles files) {
        this.name = name;
        this.manifest = manifest;
        this.files = files;
    }

    public String name() {
        return name;
    }

    public Manifest manifest() {
        return manifest;
    }

    public BundleFiles files() {
        return files;
    }

    /** What the model picker shows, e.g. "hau-sentiment · sequence-classification · 3 labels". */
    public String title() {
        int labels = manifest.labels().size();
        return name + " · " + manifest.task().id() + " · " + labels + (labels == 1 ? " label" : " labels");
    }

    @Override
    public String toString() {
        return title();
    }
}
