package org.edgedistill.demo.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.io.File;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

public class BundleVerifierTest {
    @Rule
    public TemporaryFolder folder = new TemporaryFolder();

    private File bundle() throws Exception {
        return TestBundles.write(new File(folder.getRoot(), "b"), "sequence-classification", "[\"neg\", \"pos\"]",
                "ORTM model bytes".getBytes(TestBundles.UTF_8));
    }

    @Test
    public void opensAnIntactBundle() throws Exception {
        Manifest m = BundleVerifier.openForAndroid(new DirectoryBundleFiles(bundle()));
        assertEquals(Task.SEQUENCE_CLASSIFICATION, m.task());
    }

    @Test
    public void sha256IsTheUsualHexDigest() throws Exception {
        File dir = folder.newFolder("h");
        TestBundles.write(new File(dir, "abc"), "abc".getBytes(TestBundles.UTF_8));
        assertEquals("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
                BundleVerifier.sha256(new DirectoryBundleFiles(dir), "abc"));
    }

    @Test
    public void refusesAChangedModel() throws Exception {
        File dir = bundle();
        TestBundles.write(new File(dir, "model.android.ort"), "ORTM model bytez".getBytes(TestBundles.UTF_8));
        String message = assertThrows(BundleException.class,
                () -> BundleVerifier.openForAndroid(new DirectoryBundleFiles(dir))).getMessage();
        assertTrue(message, message.contains("model.android.ort does not match its SHA-256"));
    }

    @Test
    public void refusesAMissingModelOrManifest() throws Exception {
        File dir = bundle();
        assertTrue(new File(dir, "model.android.ort").delete());
        assertTrue(assertThrows(BundleException.class, () -> BundleVerifier.openForAndroid(
                new DirectoryBundleFiles(dir))).getMessage().endsWith("is missing model.android.ort"));
        File empty = folder.newFolder("empty");
        assertTrue(assertThrows(BundleException.class, () -> BundleVerifier.openForAndroid(
                new DirectoryBundleFiles(empty))).getMessage().contains("has no edgedistill.json"));
    }

    @Test
    public void refusesPathsThatLeaveTheBundle() throws Exception {
        DirectoryBundleFiles files = new DirectoryBundleFiles(bundle());
        Manifest m = BundleVerifier.readManifest(files);
        for (String path : new String[] {"../model.android.ort", "/etc/passwd", "a\\b", "a/../../b", ""}) {
            String message = assertThrows(BundleException.class, () -> BundleVerifier.verify(files, m, path))
                    .getMessage();
            assertTrue(message, message.contains("not a plain relative path"));
        }
    }
}
