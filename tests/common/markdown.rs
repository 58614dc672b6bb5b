//! The fenced code blocks of the project's Markdown (README.md, CONTRIBUTING.md, docs/*.md),
//! each with the mark on the line before it (`<!-- file: PATH -->`, `<!-- quickstart: PATH -->`,
//! ...), for the tests that keep every block true.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// One fenced block.
#[derive(Debug, Clone)]
pub struct Block {
    /// The Markdown file, relative to the repository.
    pub file: String,
    /// The line of the opening fence (1-based).
    pub line: usize,
    /// The fence's info string (`rust`, `sh`, ...).
    pub lang: String,
    /// The mark on the line before the fence, without `<!-- ` and ` -->`.
    pub mark: Option<String>,
    /// The lines between the fences.
    pub body: String,
}

impl Block {
    /// Where the block is, for messages.
    pub fn at(&self) -> String {
        format!("{}:{}", self.file, self.line)
    }
}

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The Markdown files whose blocks are checked.
pub fn documents() -> Vec<PathBuf> {
    let mut files = vec![root().join("README.md"), root().join("CONTRIBUTING.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

/// Every fenced block of every checked document, in order.
pub fn blocks() -> Vec<Block> {
    documents().iter().flat_map(|p| blocks_of(p)).collect()
}

/// The fenced blocks of one document.
pub fn blocks_of(path: &Path) -> Vec<Block> {
    let text = std::fs::read_to_string(path).unwrap();
    let file = path
        .strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string();
    let lines: Vec<&str> = text.lines().collect();
    let mut blocks = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let indent = lines[i].len() - lines[i].trim_start().len();
        let line = lines[i].trim_start();
        let fence: String = line.chars().take_while(|c| *c == '`').collect();
        if fence.len() < 3 {
            i += 1;
            continue;
        }
        let lang = line[fence.len()..].trim().to_owned();
        let mark = i
            .checked_sub(1)
            .map(|p| lines[p].trim())
            .and_then(|l| l.strip_prefix("<!-- "))
            .and_then(|l| l.strip_suffix(" -->"))
            .map(str::to_owned);
        let start = i;
        let mut body = String::new();
        i += 1;
        while i < lines.len() && lines[i].trim() != fence {
            body.push_str(lines[i].get(indent..).unwrap_or(lines[i].trim_start()));
            body.push('\n');
            i += 1;
        }
        i += 1;
        blocks.push(Block {
            file: file.clone(),
            line: start + 1,
            lang,
            mark,
            body,
        });
    }
    blocks
}

/// The README's quickstart files, by path.
pub fn quickstart() -> Vec<(String, String)> {
    blocks_of(&root().join("README.md"))
        .into_iter()
        .filter_map(|b| {
            let path = b.mark.as_deref()?.strip_prefix("quickstart: ")?.to_owned();
            Some((path, b.body))
        })
        .collect()
}
