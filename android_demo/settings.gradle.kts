pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "edgedistill-demo"

// :core is plain Java (no Android, no ONNX Runtime): the logic the JVM unit tests cover.
// :app is the Android screen and the ONNX Runtime session around it.
include(":core", ":app")
