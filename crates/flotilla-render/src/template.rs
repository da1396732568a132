//! Flux's `${var}` syntax, parsed once per string and evaluated per cluster.
//!
//! Supported, as in Flux (whose envsubst follows bash):
//! - `${var}`: the value; undefined is an error in strict mode, empty otherwise;
//! - `${var:=default}` and `${var:-default}`: the default when `var` is undefined *or
//!   empty*;
//! - `${var=default}` and `${var-default}`: the default only when `var` is undefined;
//! - `$${var}`: the literal text `${var}` (the escape Flux documents).
//!
//! `$var` without braces is left alone, so shell scripts embedded in ConfigMaps keep
//! working. Any other `${…}` form (bash's `${var^^}`, `${var/a/b}`, …) is refused with an
//! error rather than passed through, so a typo never reaches a cluster unnoticed.

use crate::variables::Variables;

/// A string split into literal text and placeholders.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Template {
    parts: Vec<Part>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Literal(String),
    Variable {
        name: String,
        default: Option<Default>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Default {
    text: String,
    /// `:=`/`:-`: also used when the variable is set but empty.
    when_empty: bool,
}

/// Why a `${…}` could not be parsed; carries the placeholder text, which comes from the
/// manifest and never from a variable's value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// `${` without its closing `}`.
    #[error("unterminated placeholder {0:?}")]
    Unterminated(String),
    /// A form outside the supported ones, or an invalid variable name.
    #[error(
        "unsupported placeholder {0:?}: use ${{name}}, ${{name:=default}}, ${{name:-default}}, ${{name=default}} or ${{name-default}}, names matching ^[_a-zA-Z][_a-zA-Z0-9]*$; write $${{…}} for a literal ${{…}}"
    )]
    Unsupported(String),
}

/// A placeholder that has no value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("variable {0:?} is not defined and has no default")]
pub struct Undefined(pub String);

impl Template {
    /// Splits `text`; a string without placeholders is one literal.
    pub(crate) fn parse(text: &str) -> Result<Self, TemplateError> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(dollar) = rest.find('$') {
            literal.push_str(&rest[..dollar]);
            let after = &rest[dollar + 1..];
            if let Some(escaped) = after.strip_prefix("${") {
                // `$${` is the escape: keep one `$` and the braces as text.
                literal.push_str("${");
                rest = escaped;
            } else if let Some(body_start) = after.strip_prefix('{') {
                let end = body_start.find('}').ok_or_else(|| {
                    TemplateError::Unterminated(format!("${{{}", truncate(body_start)))
                })?;
                let body = &body_start[..end];
                let part = parse_placeholder(body)
                    .ok_or_else(|| TemplateError::Unsupported(format!("${{{body}}}")))?;
                if !literal.is_empty() {
                    parts.push(Part::Literal(std::mem::take(&mut literal)));
                }
                parts.push(part);
                rest = &body_start[end + 1..];
            } else {
                literal.push('$');
                rest = after;
            }
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Ok(Self { parts })
    }

    /// Whether the text had any placeholder (an escape alone still rewrites the text).
    pub(crate) fn has_variables(&self) -> bool {
        self.parts
            .iter()
            .any(|p| matches!(p, Part::Variable { .. }))
    }

    /// The text with every placeholder replaced. In strict mode an undefined variable
    /// without a default is an error; otherwise it becomes empty, as in Flux by default.
    pub(crate) fn render(&self, variables: &Variables, strict: bool) -> Result<String, Undefined> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Variable { name, default } => {
                    let value = variables.get(name);
                    match (value, default) {
                        (Some(v), Some(d)) if v.is_empty() && d.when_empty => out.push_str(&d.text),
                        (Some(v), _) => out.push_str(v),
                        (None, Some(d)) => out.push_str(&d.text),
                        (None, None) if strict => return Err(Undefined(name.clone())),
                        (None, None) => {}
                    }
                }
            }
        }
        Ok(out)
    }
}

/// `name`, `name:=d`, `name:-d`, `name=d` or `name-d`.
fn parse_placeholder(body: &str) -> Option<Part> {
    let name_len = body
        .char_indices()
        .find(|&(i, c)| !(c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())))
        .map_or(body.len(), |(i, _)| i);
    if name_len == 0 {
        return None;
    }
    let (name, operator) = body.split_at(name_len);
    let default = if operator.is_empty() {
        None
    } else if let Some(text) = operator
        .strip_prefix(":=")
        .or_else(|| operator.strip_prefix(":-"))
    {
        Some(Default {
            text: text.to_owned(),
            when_empty: true,
        })
    } else if let Some(text) = operator
        .strip_prefix('=')
        .or_else(|| operator.strip_prefix('-'))
    {
        Some(Default {
            text: text.to_owned(),
            when_empty: false,
        })
    } else {
        return None;
    };
    Some(Part::Variable {
        name: name.to_owned(),
        default,
    })
}

/// Error text quotes at most a short stretch of an unterminated placeholder.
fn truncate(text: &str) -> &str {
    text.char_indices()
        .nth(40)
        .map_or(text, |(i, _)| &text[..i])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Variables {
        Variables::from_pairs(pairs.iter().map(|(k, v)| ((*k).into(), (*v).into())))
    }

    fn render(text: &str, pairs: &[(&str, &str)], strict: bool) -> Result<String, Undefined> {
        Template::parse(text).unwrap().render(&vars(pairs), strict)
    }

    #[test]
    fn defaults_follow_bash() {
        let v = [("set", "x"), ("empty", "")];
        assert_eq!(render("${set:=d}", &v, true).unwrap(), "x");
        assert_eq!(render("${unset:=d}", &v, true).unwrap(), "d");
        assert_eq!(render("${empty:=d}", &v, true).unwrap(), "d");
        assert_eq!(render("${empty:-d}", &v, true).unwrap(), "d");
        assert_eq!(render("${empty=d}", &v, true).unwrap(), "");
        assert_eq!(render("${unset-d}", &v, true).unwrap(), "d");
        assert_eq!(render("${unset:=}", &v, true).unwrap(), "");
        assert_eq!(render("a-${set}-${set:-q}.b", &v, true).unwrap(), "a-x-x.b");
    }

    #[test]
    fn undefined_is_an_error_only_in_strict_mode() {
        assert_eq!(render("${nope}", &[], true), Err(Undefined("nope".into())));
        assert_eq!(render("a${nope}b", &[], false).unwrap(), "ab");
    }

    #[test]
    fn escapes_and_shell_variables_are_literal() {
        assert_eq!(render("$${x}", &[("x", "1")], true).unwrap(), "${x}");
        assert_eq!(
            render("echo $HOME $1 $", &[], true).unwrap(),
            "echo $HOME $1 $"
        );
        assert!(!Template::parse("$${x} $y").unwrap().has_variables());
    }

    #[test]
    fn unsupported_forms_are_refused() {
        for text in ["${x^^}", "${1x}", "${}", "${ x }", "${x/a/b}"] {
            assert!(
                matches!(Template::parse(text), Err(TemplateError::Unsupported(_))),
                "{text}"
            );
        }
        assert!(matches!(
            Template::parse("${x"),
            Err(TemplateError::Unterminated(_))
        ));
    }
}
