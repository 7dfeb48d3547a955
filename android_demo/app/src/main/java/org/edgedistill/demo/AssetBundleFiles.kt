package org.edgedistill.demo

import android.content.res.AssetManager
import java.io.InputStream
import org.edgedistill.demo.core.BundleFiles

/** A bundle that prepare_assets.py placed in the APK at assets/models/<name>/. */
class AssetBundleFiles(private val assets: AssetManager, private val name: String) : BundleFiles {
    override fun describe(): String = "assets/$MODELS_DIR/$name"

    override fun open(relativePath: String): InputStream = assets.open("$MODELS_DIR/$name/$relativePath")

    companion object {
        const val MODELS_DIR = "models"

        /** The bundle folders shipped in the APK (none when prepare_assets.py was never run). */
        fun names(assets: AssetManager): List<String> = assets.list(MODELS_DIR)?.toList().orEmpty()
    }
}
