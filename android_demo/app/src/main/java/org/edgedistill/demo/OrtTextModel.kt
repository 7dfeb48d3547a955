package org.edgedistill.demo

import ai.onnxruntime.OnnxTensor
import ai.onnxruntime.OrtEnvironment
import ai.onnxruntime.OrtSession
import ai.onnxruntime.extensions.OrtxPackage
import org.edgedistill.demo.core.BundleException
import org.edgedistill.demo.core.Manifest
import org.edgedistill.demo.core.ModelOutput
import org.edgedistill.demo.core.TextModel

/**
 * The bundle's string-input model in one ONNX Runtime session, created once: the tokenizer runs in
 * the graph (onnxruntime-extensions operators), so the app hands it raw text.
 */
class OrtTextModel private constructor(
    private val environment: OrtEnvironment,
    private val options: OrtSession.SessionOptions,
    private val session: OrtSession,
    private val logitsName: String,
) : TextModel {
    private val inputName: String = session.inputNames.first()
    private val outputs: Set<String> =
        if (TOKEN_OFFSETS in session.outputNames) setOf(logitsName, TOKEN_OFFSETS) else setOf(logitsName)

    override fun run(text: String): ModelOutput {
        OnnxTensor.createTensor(environment, arrayOf(text), longArrayOf(1)).use { input ->
            session.run(mapOf(inputName to input), outputs).use { result ->
                val logits = result.get(logitsName).get() as OnnxTensor
                val shape = logits.info.shape // [1, labels] or [1, tokens, labels]
                val buffer = logits.floatBuffer
                val flat = FloatArray(buffer.remaining()).also { buffer.get(it) }
                val columns = shape.last().toInt()
                val rows = if (shape.size == 3) shape[1].toInt() else 1
                val starts = if (TOKEN_OFFSETS in outputs) {
                    val offsets = (result.get(TOKEN_OFFSETS).get() as OnnxTensor).longBuffer
                    LongArray(offsets.remaining()).also { offsets.get(it) }
                } else {
                    null
                }
                return ModelOutput.fromFlat(flat, rows, columns, starts)
            }
        }
    }

    override fun close() {
        session.close()
        options.close() // after the session: closing the options unloads the extensions library
    }

    companion object {
        /** The output the app needs to place entities; see TokenAlignment in the core. */
        const val TOKEN_OFFSETS = "token_offsets"

        fun open(modelBytes: ByteArray, manifest: Manifest): OrtTextModel {
            val environment = OrtEnvironment.getEnvironment()
            val options = OrtSession.SessionOptions()
            try {
                options.registerCustomOpLibrary(OrtxPackage.getLibraryPath())
                val session = environment.createSession(modelBytes, options)
                val inputs = session.inputInfo.values.map { it.info.toString() }
                if (session.inputNames.size != 1) {
                    session.close()
                    throw BundleException("the model takes ${session.inputNames.size} inputs ($inputs); the app " +
                        "feeds one string")
                }
                if (manifest.logitsOutput() !in session.outputNames) {
                    session.close()
                    throw BundleException("the model has no output '${manifest.logitsOutput()}' " +
                        "(it has ${session.outputNames})")
                }
                return OrtTextModel(environment, options, session, manifest.logitsOutput())
            } catch (e: Exception) {
                options.close()
                throw e
            }
        }
    }
}
