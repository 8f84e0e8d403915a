//! Encrypted paths as the client receives them from the pool, and user paths.

#![no_main]

use cairn_core::{EncryptedPath, PathCipher, PathKey, RemotePath};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let cipher = PathCipher::new(&PathKey::from_bytes([4; 32]));
    if let Ok(path) = EncryptedPath::parse(text) {
        if let Ok(plain) = cipher.decrypt(&path) {
            // What decrypts is a valid path that encrypts back to what was received.
            assert_eq!(
                RemotePath::parse(&plain.to_string()).ok(),
                Some(plain.clone())
            );
            assert_eq!(cipher.encrypt(&plain).as_str(), path.as_str());
        }
    }
    let _ = cipher.decrypt_name(text);
    if let Ok(path) = RemotePath::parse(text) {
        let encrypted = cipher.encrypt(&path);
        assert_eq!(cipher.decrypt(&encrypted).ok(), Some(path));
    }
});
