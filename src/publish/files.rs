//! Writing the tree: each file to a temporary name in its own directory, synced, then
//! renamed over the old one, so a web server serving the directory never sends half
//! a file, and a crash leaves the old file or the new one.

use std::io::Write as _;
use std::path::Path;

use super::{PublishError, Tree};

fn err(path: &Path) -> impl FnOnce(std::io::Error) -> PublishError + '_ {
    move |source| PublishError::Write {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes every file of `tree` under `dir` (created when missing). Files are
/// world-readable (0644): they are what the web server publishes.
pub(super) fn write_tree(dir: &Path, tree: &Tree) -> Result<(), PublishError> {
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    for (rel, bytes) in &tree.files {
        let path = dir.join(rel);
        let parent = path.parent().unwrap_or(dir);
        std::fs::create_dir_all(parent).map_err(err(parent))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
        let written = (|| {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o644)
                .open(&tmp)?;
            // The mode asked for is masked by the umask: set it outright.
            f.set_permissions(std::fs::Permissions::from_mode(0o644))?;
            f.write_all(bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)
        })();
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(err(&path)(e));
        }
    }
    Ok(())
}
