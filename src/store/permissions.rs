//! The store holds decrypted reports: only the gateway's own user may read it.
//!
//! It is created private (0700) whatever the umask, and an existing store that other
//! users can reach is refused, naming the path and the command that fixes it, as ssh
//! does for a private key.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

use super::StoreError;

/// Creates `path` (and missing parents) as 0700 when it does not exist, and makes an
/// existing empty directory 0700 (it holds nothing yet). A store with content whose
/// directory group or others may enter is refused: whatever is inside is then as
/// open as its own mode. (The files inside are made private by [`tighten`].)
pub(super) fn prepare(path: &Path) -> Result<(), StoreError> {
    let io = |source: std::io::Error| StoreError::Io {
        path: path.display().to_string(),
        source,
    };
    if !path.exists() {
        return std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(path)
            .map_err(io);
    }
    let meta = std::fs::metadata(path).map_err(io)?;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 == 0 {
        return Ok(());
    }
    let empty = std::fs::read_dir(path).map_err(io)?.next().is_none();
    if !empty {
        return Err(StoreError::Exposed {
            path: path.display().to_string(),
            mode: mode & 0o777,
        });
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & !0o077)).map_err(io)
}

/// Takes group and other permissions off what sled created directly in `path`
/// (its files follow the umask): private whatever the umask. The directory itself
/// is 0700, so nothing was reachable meanwhile.
pub(super) fn tighten(path: &Path) -> Result<(), StoreError> {
    let io = |source: std::io::Error| StoreError::Io {
        path: path.display().to_string(),
        source,
    };
    for entry in std::fs::read_dir(path).map_err(io)? {
        let entry = entry.map_err(io)?;
        let meta = entry.metadata().map_err(io)?;
        let mode = meta.permissions().mode() & 0o7777;
        if !meta.file_type().is_symlink() && mode & 0o077 != 0 {
            std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(mode & !0o077))
                .map_err(io)?;
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn created_private_and_an_open_one_refused() {
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("a/state");
        prepare(&store).unwrap();
        assert_eq!(mode(&store), 0o700);

        // An empty directory someone made is taken over, private.
        std::fs::set_permissions(&store, std::fs::Permissions::from_mode(0o755)).unwrap();
        prepare(&store).unwrap();
        assert_eq!(mode(&store), 0o700);

        // What sled creates under a loose umask is made private at open.
        let loose = store.join("conf");
        std::fs::write(&loose, b"x").unwrap();
        std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o644)).unwrap();
        tighten(&store).unwrap();
        assert_eq!(mode(&loose), 0o600);
        prepare(&store).unwrap();

        // A store with content that others may enter is refused, with the fix.
        std::fs::set_permissions(&store, std::fs::Permissions::from_mode(0o755)).unwrap();
        let err = prepare(&store).unwrap_err().to_string();
        assert!(
            err.contains("0755") && err.contains(&format!("chmod -R go-rwx {}", store.display())),
            "{err}"
        );
        assert_eq!(mode(&store), 0o755, "refused, not changed");
    }
}
