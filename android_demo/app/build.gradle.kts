import org.jetbrains.kotlin.gradle.dsl.JvmTarget

plugins {
    alias(libs.plugins.android.application)
    alias(libs.plugins.kotlin.android)
}

android {
    namespace = "org.edgedistill.demo"
    compileSdk = 35

    defaultConfig {
        applicationId = "org.edgedistill.demo"
        minSdk = 24 // ONNX Runtime Android supports API 21+; 24 gives Java 8 streams to the core
        targetSdk = 35
        versionCode = 1
        versionName = "0.1.0"
        ndk {
            abiFilters += listOf("arm64-v8a", "x86_64") // phones, and the emulator on x86-64 hosts
        }
    }

    buildTypes {
        release {
            isMinifyEnabled = false
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }

    androidResources {
        // Models are read whole into memory; stored uncompressed they also keep the APK's zip fast to read.
        noCompress += listOf("ort", "onnx")
    }
}

kotlin {
    compilerOptions {
        jvmTarget.set(JvmTarget.JVM_17)
    }
}

dependencies {
    implementation(project(":core"))
    implementation(libs.onnxruntime.android)
    implementation(libs.onnxruntime.extensions.android)
}
