package org.edgedistill.demo.core;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * The bundles the app ships (one folder each under assets/models/), with the reason for every folder
 * it cannot offer. Only manifests are read here; model hashes are checked when a model is loaded.
 */
public final class ModelCatalog {
    /** Gives access to the bundle in one folder. */
    public interface Opener {
        BundleFiles open(String name);
    }

    private final List<ModelChoice> choices;
    private final List<String> problems;

    private ModelCatalog(List<ModelChoice> choices, List<String> problems) {
        this.choices = Collections.unmodifiableList(choices);
        this.problems = Collections.unmodifiableList(problems);
    }

    public static ModelCatalog scan(List<String> names, Opener opener) {
        List<String> sorted = new ArrayList<>(names);
        Collections.sort(sorted);
        List<ModelChoice> choices = new ArrayList<>();
        List<String> problems = new ArrayList<>();
        for (String name : sorted) {
            BundleFiles files = opener.open(name);
            try {
                Manifest manifest = BundleVerifier.readManifest(files);
                if (manifest.task() == Task.EMBEDDING) {
                    throw new BundleException("bundle " + files.describe() + " is an embedding model; the demo "
                            + "shows labels and entities");
                }
                manifest.androidModelFile();
                choices.add(new ModelChoice(name, manifest, files));
            } catch (BundleException e) {
                problems.add(name + ": " + e.getMessage());
            }
        }
        return new ModelCatalog(choices, problems);
    }

    public List<ModelChoice> choices() {
        return choices;
    }

    /** One sentence per folder that was left out. */
    public List<String> problems() {
        return problems;
    }

    /** The model called {@code preferred} if there is one (e.g. the last one used), else the first; null if none. */
    public ModelChoice choose(String preferred) {
        for (ModelChoice choice : choices) {
            if (choice.name().equals(preferred)) {
                return choice;
            }
        }
        return choices.isEmpty() ? null : choices.get(0);
    }
}
