package org.edgedistill.demo.core;

import java.io.File;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;

/** A bundle in a directory of the file system (a JVM, or an Android app's own files). */
public final class DirectoryBundleFiles implements BundleFiles {
    private final File directory;

    public DirectoryBundleFiles(File directory) {
        this.directory = directory;
    }

    @Override
    public String describe() {
        return directory.getPath();
    }

    @Override
    public InputStream open(String relativePath) throws IOException {
        return new FileInputStream(new File(directory, relativePath));
    }
}
