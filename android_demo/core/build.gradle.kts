// Plain Java, compiled for Java 8 so that it only uses APIs Android's minSdk 24 has; the same sources
// are compiled and tested on a bare JDK by tests/test_android_jvm.py (javac --release 8 + JUnit 4).
plugins {
    `java-library`
}

tasks.withType<JavaCompile>().configureEach {
    options.release.set(8)
    options.encoding = "UTF-8"
}

dependencies {
    testImplementation(libs.junit)
}
