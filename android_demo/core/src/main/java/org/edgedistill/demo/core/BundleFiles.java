package org.edgedistill.demo.core;

import java.io.IOException;
import java.io.InputStream;

/** Where a bundle's files are read from: a directory on a JVM, the APK's assets on Android. */
public interface BundleFiles {
    /** A human name for error messages, e.g. "assets/models/hau-sentiment". */
    String describe();

    /** Opens a file by its path relative to the bundle; the caller closes the stream. */
    InputStream open(String relativePath) throws IOException;
}
