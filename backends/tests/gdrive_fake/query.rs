//! Drive's search language (`q`) and field selections (`fields`), as far as ferry uses them.
//! Anything else is refused, so a client that sends something unexpected fails loudly.

use std::collections::BTreeSet;

/// One condition of a search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Clause {
    /// `name = '…'`
    Name(String),
    /// `'…' in parents`
    InParents(String),
    /// `mimeType = '…'` (true) or `mimeType != '…'` (false)
    Mime(String, bool),
    /// `trashed = true|false`
    Trashed(bool),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Text(String),
    Eq,
    NotEq,
}

fn tokens(q: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut chars = q.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            ' ' => {
                chars.next();
            }
            '=' => {
                chars.next();
                out.push(Token::Eq);
            }
            '!' => {
                chars.next();
                if chars.next() != Some('=') {
                    return Err("`!` without `=`".into());
                }
                out.push(Token::NotEq);
            }
            '\'' => {
                chars.next();
                let mut text = String::new();
                loop {
                    match chars.next() {
                        None => return Err("unterminated string".into()),
                        Some('\'') => break,
                        Some('\\') => match chars.next() {
                            Some(escaped @ ('\\' | '\'')) => text.push(escaped),
                            other => return Err(format!("bad escape \\{other:?}")),
                        },
                        Some(c) => text.push(c),
                    }
                }
                out.push(Token::Text(text));
            }
            c if c.is_ascii_alphabetic() => {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_ascii_alphanumeric() {
                        word.push(c);
                        chars.next();
                    } else {
                        break;
                    }
                }
                out.push(Token::Word(word));
            }
            other => return Err(format!("unexpected {other:?}")),
        }
    }
    Ok(out)
}

/// Parses `clause and clause and …` with the clause forms of [`Clause`].
pub fn parse_q(q: &str) -> Result<Vec<Clause>, String> {
    let tokens = tokens(q)?;
    let mut clauses = Vec::new();
    for group in tokens.split(|t| *t == Token::Word("and".into())) {
        let clause = match group {
            [Token::Word(w), Token::Eq, Token::Text(name)] if w == "name" => {
                Clause::Name(name.clone())
            }
            [Token::Text(id), Token::Word(w1), Token::Word(w2)]
                if w1 == "in" && w2 == "parents" =>
            {
                Clause::InParents(id.clone())
            }
            [
                Token::Word(w),
                op @ (Token::Eq | Token::NotEq),
                Token::Text(mime),
            ] if w == "mimeType" => Clause::Mime(mime.clone(), *op == Token::Eq),
            [Token::Word(w), Token::Eq, Token::Word(value)]
                if w == "trashed" && (value == "true" || value == "false") =>
            {
                Clause::Trashed(value == "true")
            }
            other => return Err(format!("unsupported clause {other:?}")),
        };
        clauses.push(clause);
    }
    if clauses.is_empty() {
        return Err("empty query".into());
    }
    Ok(clauses)
}

/// The file fields the fake knows.
pub const FILE_FIELDS: &[&str] = &[
    "kind",
    "id",
    "name",
    "mimeType",
    "parents",
    "size",
    "md5Checksum",
    "createdTime",
    "modifiedTime",
    "trashed",
    "driveId",
];

/// Drive v3's default selection when `fields` is absent.
pub const DEFAULT_FILE_FIELDS: &[&str] = &["kind", "id", "name", "mimeType"];

/// Splits at commas outside parentheses.
fn top_level(fields: &str) -> Result<Vec<&str>, String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in fields.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return Err("unbalanced parentheses".into());
                }
            }
            ',' if depth == 0 => {
                out.push(fields[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err("unbalanced parentheses".into());
    }
    out.push(fields[start..].trim());
    Ok(out)
}

/// A selection of file fields (`id,name,size`).
pub fn file_fields(fields: Option<&str>) -> Result<BTreeSet<String>, String> {
    let Some(fields) = fields else {
        return Ok(DEFAULT_FILE_FIELDS.iter().map(|f| f.to_string()).collect());
    };
    let mut out = BTreeSet::new();
    for field in top_level(fields)? {
        if field == "*" {
            out.extend(FILE_FIELDS.iter().map(|f| f.to_string()));
        } else if FILE_FIELDS.contains(&field) {
            out.insert(field.to_owned());
        } else {
            return Err(format!("Invalid field selection {field}"));
        }
    }
    Ok(out)
}

/// A selection for `files.list`: which top-level fields, and which fields of each file.
#[derive(Debug)]
pub struct ListFields {
    pub top: BTreeSet<String>,
    pub files: BTreeSet<String>,
}

/// Parses `nextPageToken,incompleteSearch,files(id,name)`.
pub fn list_fields(fields: Option<&str>) -> Result<ListFields, String> {
    let Some(fields) = fields else {
        return Ok(ListFields {
            top: ["kind", "incompleteSearch", "nextPageToken", "files"]
                .iter()
                .map(|f| f.to_string())
                .collect(),
            files: file_fields(None)?,
        });
    };
    let mut top = BTreeSet::new();
    let mut files = BTreeSet::new();
    for field in top_level(fields)? {
        if let Some(inner) = field
            .strip_prefix("files(")
            .and_then(|f| f.strip_suffix(')'))
        {
            top.insert("files".to_owned());
            files = file_fields(Some(inner))?;
        } else if field == "files" {
            top.insert("files".to_owned());
            files = FILE_FIELDS.iter().map(|f| f.to_string()).collect();
        } else if matches!(field, "kind" | "incompleteSearch" | "nextPageToken") {
            top.insert(field.to_owned());
        } else {
            return Err(format!("Invalid field selection {field}"));
        }
    }
    Ok(ListFields { top, files })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_searches_ferry_sends() {
        let q = r"name = 'it\'s a\\b and c' and 'P1' in parents and mimeType != 'application/vnd.google-apps.folder' and trashed = false";
        assert_eq!(
            parse_q(q).unwrap(),
            vec![
                Clause::Name(r"it's a\b and c".into()),
                Clause::InParents("P1".into()),
                Clause::Mime("application/vnd.google-apps.folder".into(), false),
                Clause::Trashed(false),
            ]
        );
        assert!(parse_q("name contains 'x'").is_err());
        assert!(parse_q("name = 'x' or trashed = false").is_err());
        assert!(parse_q(r"name = 'x\'").is_err());
    }

    #[test]
    fn parses_field_selections() {
        let list = list_fields(Some("nextPageToken,files(id,size)")).unwrap();
        assert!(list.top.contains("nextPageToken") && list.top.contains("files"));
        assert_eq!(list.files.len(), 2);
        assert!(file_fields(Some("id,bogus")).is_err());
        assert_eq!(file_fields(None).unwrap().len(), 4);
    }
}
