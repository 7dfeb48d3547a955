// Versions live in gradle/libs.versions.toml (android_demo/prepare_assets.py reads the ONNX Runtime pin there).
plugins {
    alias(libs.plugins.android.application) apply false
    alias(libs.plugins.kotlin.android) apply false
}
