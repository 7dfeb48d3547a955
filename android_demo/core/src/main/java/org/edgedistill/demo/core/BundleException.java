package org.edgedistill.demo.core;

/** A bundle that cannot be used; the message is one sentence naming the bundle and the problem. */
public class BundleException extends Exception {
    private static final long serialVersionUID = 1L;

    public BundleException(String message) {
        super(message);
    }
}
