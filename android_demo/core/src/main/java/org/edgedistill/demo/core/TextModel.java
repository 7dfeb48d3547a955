package org.edgedistill.demo.core;

import java.io.Closeable;

/**
 * A model that takes raw text: on Android, an ONNX Runtime session over the bundle's string-input
 * model (tokenizer in the graph); in tests, recorded outputs. Implementations create their session
 * once and may be called from one worker thread at a time.
 */
public interface TextModel extends Closeable {
    /** Runs the model on one text (the graph adds the manifest's input_prefix itself). */
    ModelOutput run(String text) throws Exception;
}
