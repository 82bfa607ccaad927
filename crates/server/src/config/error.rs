//! Configuration errors that point at the mistake: file, line, column, the
//! line itself and what to write instead.

use std::fmt;
use std::ops::Range;

/// A configuration text and the name it is reported under.
#[derive(Debug, Clone)]
pub struct Source {
    pub name: String,
    pub text: String,
}

impl Source {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        Source { name: name.into(), text: text.into() }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn position(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = self.text.get(..offset).unwrap_or(&self.text);
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        (line, column)
    }

    /// An error at `span` (a byte range of the text).
    pub fn error(&self, span: Option<Range<usize>>, message: impl Into<String>) -> ConfigError {
        let message = message.into();
        let Some(span) = span else {
            return ConfigError { file: self.name.clone(), line: 0, column: 0, message, excerpt: None };
        };
        let (line, column) = self.position(span.start);
        let text = self.text.lines().nth(line - 1).unwrap_or("").to_string();
        let (_, end_column) = self.position(span.end.max(span.start + 1));
        let same_line = self.position(span.end.max(span.start + 1)).0 == line;
        let width = if same_line { end_column.saturating_sub(column).max(1) } else { 1 };
        ConfigError { file: self.name.clone(), line, column, message, excerpt: Some((text, width)) }
    }
}

/// One mistake in a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    /// 1-based; 0 when the mistake has no single place (a missing key).
    pub line: usize,
    pub column: usize,
    /// What is wrong and what to write instead.
    pub message: String,
    /// The line, and how many characters from `column` to underline.
    excerpt: Option<(String, usize)>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            return write!(f, "{}: {}", self.file, self.message);
        }
        write!(f, "{}:{}:{}: {}", self.file, self.line, self.column, self.message)?;
        if let Some((text, width)) = &self.excerpt {
            let number = self.line.to_string();
            let pad = " ".repeat(number.len());
            write!(f, "\n{pad} |\n{number} | {text}\n{pad} | {}{}", " ".repeat(self.column - 1), "^".repeat(*width))?;
        }
        Ok(())
    }
}

/// Every mistake found in one configuration; it is refused whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "error: {e}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_and_excerpt() {
        let s = Source::new("f.toml", "[server]\nlisten = 5\n");
        assert_eq!(s.position(0), (1, 1));
        assert_eq!(s.position(18), (2, 10));
        let e = s.error(Some(18..19), "bad");
        assert_eq!((e.line, e.column), (2, 10));
        assert_eq!(e.to_string(), "f.toml:2:10: bad\n  |\n2 | listen = 5\n  |          ^");
    }
}
