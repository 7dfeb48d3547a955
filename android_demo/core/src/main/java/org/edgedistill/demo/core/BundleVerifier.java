package org.edgedistill.demo.core;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.Charset;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Collection;

/** Opens a bundle's manifest and checks files against their SHA-256, as runtime/bundle.py does. */
public final class BundleVerifier {
    private static final Charset UTF_8 = Charset.forName("UTF-8");

    private BundleVerifier() {
    }

    /** Reads and checks the manifest, then verifies the named files (the ones the app will use). */
    public static Manifest open(BundleFiles bundle, Collection<String> filesToVerify) throws BundleException {
        Manifest manifest = readManifest(bundle);
        for (String file : filesToVerify) {
            verify(bundle, manifest, file);
        }
        return manifest;
    }

    /** Reads and checks the manifest and verifies its Android model. */
    public static Manifest openForAndroid(BundleFiles bundle) throws BundleException {
        Manifest manifest = readManifest(bundle);
        verify(bundle, manifest, manifest.androidModelFile());
        return manifest;
    }

    public static Manifest readManifest(BundleFiles bundle) throws BundleException {
        byte[] bytes;
        try {
            bytes = readAll(bundle, Manifest.FILE_NAME);
        } catch (IOException e) {
            throw new BundleException("bundle " + bundle.describe() + " has no " + Manifest.FILE_NAME
                    + ", so it is not an edgedistill bundle (or it was not completely copied)");
        }
        return Manifest.parse(new String(bytes, UTF_8), bundle.describe() + "/" + Manifest.FILE_NAME);
    }

    /** The file exists, is a plain relative path inside the bundle and matches its hash. */
    public static void verify(BundleFiles bundle, Manifest manifest, String relativePath) throws BundleException {
        checkRelative(bundle, relativePath);
        String expected = manifest.files().get(relativePath);
        if (expected == null) {
            throw new BundleException("bundle " + bundle.describe() + " gives no hash for " + relativePath);
        }
        String actual;
        try {
            actual = sha256(bundle, relativePath);
        } catch (IOException e) {
            throw new BundleException("bundle " + bundle.describe() + " is missing " + relativePath);
        }
        if (!actual.equalsIgnoreCase(expected)) {
            throw new BundleException("bundle " + bundle.describe() + ": " + relativePath + " does not match its "
                    + "SHA-256 in the manifest (the file was changed or truncated)");
        }
    }

    /** Refuses absolute paths, backslashes and any ".." step, like runtime/bundle.py's resolve_inside. */
    static void checkRelative(BundleFiles bundle, String relativePath) throws BundleException {
        boolean plain = !relativePath.isEmpty() && !relativePath.startsWith("/") && relativePath.indexOf('\\') < 0;
        for (String part : relativePath.split("/", -1)) {
            if (part.equals("..") || part.isEmpty()) {
                plain = false;
            }
        }
        if (!plain) {
            throw new BundleException("bundle " + bundle.describe() + " names the file '" + relativePath
                    + "', which is not a plain relative path inside the bundle");
        }
    }

    public static String sha256(BundleFiles bundle, String relativePath) throws IOException {
        MessageDigest digest;
        try {
            digest = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("this Java has no SHA-256", e);
        }
        try (InputStream in = bundle.open(relativePath)) {
            byte[] buffer = new byte[1 << 16];
            for (int n = in.read(buffer); n >= 0; n = in.read(buffer)) {
                digest.update(buffer, 0, n);
            }
        }
        StringBuilder hex = new StringBuilder();
        for (byte b : digest.digest()) {
            hex.append(Character.forDigit((b >> 4) & 0xf, 16)).append(Character.forDigit(b & 0xf, 16));
        }
        return hex.toString();
    }

    public static byte[] readAll(BundleFiles bundle, String relativePath) throws IOException {
        try (InputStream in = bundle.open(relativePath)) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            byte[] buffer = new byte[1 << 16];
            for (int n = in.read(buffer); n >= 0; n = in.read(buffer)) {
                out.write(buffer, 0, n);
            }
            return out.toByteArray();
        }
    }
}
