package org.edgedistill.demo

import android.content.Context
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.ExecutorService
import java.util.concurrent.Executors
import org.edgedistill.demo.core.BundleVerifier
import org.edgedistill.demo.core.ModelCatalog
import org.edgedistill.demo.core.ModelChoice
import org.edgedistill.demo.core.TextPredictor

/**
 * The process-wide home of the models: one worker thread runs everything that touches a model, and
 * each bundle's session is created once, on first use, and kept (across screen rotations too).
 * Only [worker] adds to [predictors]; the UI thread may ask whether one is there.
 */
object ModelStore {
    val worker: ExecutorService = Executors.newSingleThreadExecutor { runnable ->
        Thread(runnable, "edgedistill-model").apply { isDaemon = true }
    }

    private val predictors = ConcurrentHashMap<String, TextPredictor>()

    fun catalog(context: Context): ModelCatalog {
        val assets = context.applicationContext.assets
        return ModelCatalog.scan(AssetBundleFiles.names(assets)) { name -> AssetBundleFiles(assets, name) }
    }

    /** Whether [choice] already has a session (so the UI can say "loading" only when it will load). */
    fun isLoaded(choice: ModelChoice): Boolean = predictors.containsKey(choice.name())

    /** The predictor for [choice]: verified and loaded on first call, then the same one. Worker thread only. */
    fun predictor(choice: ModelChoice): TextPredictor = predictors.getOrPut(choice.name()) {
        val manifest = choice.manifest()
        val modelFile = manifest.androidModelFile()
        BundleVerifier.verify(choice.files(), manifest, modelFile)
        val bytes = choice.files().open(modelFile).use { it.readBytes() }
        TextPredictor(manifest, OrtTextModel.open(bytes, manifest))
    }
}
