package org.edgedistill.demo.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;

import java.io.File;
import java.util.Arrays;
import java.util.Collections;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

public class ModelCatalogTest {
    @Rule
    public TemporaryFolder folder = new TemporaryFolder();

    private ModelCatalog scan(String... names) {
        final File root = folder.getRoot();
        return ModelCatalog.scan(Arrays.asList(names), name -> new DirectoryBundleFiles(new File(root, name)));
    }

    @Test
    public void offersUsableBundlesAndSaysWhyOthersAreLeftOut() throws Exception {
        byte[] model = {1, 2, 3};
        File root = folder.getRoot();
        TestBundles.write(new File(root, "yor-ner"), "token-classification", "[\"O\", \"B-PER\"]", model);
        TestBundles.write(new File(root, "hau-sentiment"), "sequence-classification", "[\"neg\", \"pos\"]", model);
        TestBundles.write(new File(root, "swa-embed"), "embedding", "[]", model);
        new File(root, "empty").mkdirs();
        ModelCatalog catalog = scan("yor-ner", "swa-embed", "hau-sentiment", "empty");
        assertEquals(2, catalog.choices().size());
        assertEquals("hau-sentiment", catalog.choices().get(0).name());
        assertEquals("hau-sentiment · sequence-classification · 2 labels", catalog.choices().get(0).title());
        assertEquals(2, catalog.problems().size());
        assertTrue(catalog.problems().get(0), catalog.problems().get(0).startsWith("empty: "));
        assertTrue(catalog.problems().get(1), catalog.problems().get(1).contains("embedding model"));
        assertEquals("yor-ner", catalog.choose("yor-ner").name());
        assertEquals("hau-sentiment", catalog.choose("gone").name());
    }

    @Test
    public void anEmptyCatalogChoosesNothing() {
        ModelCatalog catalog = ModelCatalog.scan(Collections.<String>emptyList(), name -> null);
        assertNull(catalog.choose(null));
    }
}
