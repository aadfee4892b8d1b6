//! OData `$filter` expressions, as the table service evaluates them, for the in-memory store.
//!
//! Owns [`Filter`]: parsed once per query, then tested against each entity. The grammar is the
//! part of OData the table service supports: comparisons (`eq ne gt ge lt le`) of a property with
//! a literal (`'text'` with `''` for a quote, `datetime'…'`, `guid'…'`, integers, `…L` Int64,
//! doubles, `true`/`false`), joined by `and` / `or`, negated by `not`, grouped by parentheses.
//! As on the service, a comparison with a property the entity lacks, or of mismatched types, is
//! false.

use std::cmp::Ordering;

use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::super::entity::TableEntity;

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `property op literal`: false when the entity lacks the property or its type does not match
    /// the literal's.
    Compare {
        /// The property compared.
        property: String,
        /// The comparison operator.
        op: Op,
        /// The literal it is compared with.
        literal: Literal,
    },
    /// `a and b`.
    And(Box<Filter>, Box<Filter>),
    /// `a or b`.
    Or(Box<Filter>, Box<Filter>),
    /// `not a`.
    Not(Box<Filter>),
    /// A bare `true` or `false`.
    Const(bool),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `eq`.
    Eq,
    /// `ne`.
    Ne,
    /// `gt`.
    Gt,
    /// `ge`.
    Ge,
    /// `lt`.
    Lt,
    /// `le`.
    Le,
}

/// A literal on the right of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// `'text'` (a `guid'…'` literal is compared as its text too).
    Str(String),
    /// `datetime'…'`: compares with `Edm.DateTime` properties.
    DateTime(OffsetDateTime),
    /// An integer (Int32, or Int64 written `…L`).
    Int(i64),
    /// A floating-point number.
    Double(f64),
    /// `true` or `false`.
    Bool(bool),
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Lit(Literal),
    Open,
    Close,
}

impl Filter {
    /// Parses `text`; the error says what is wrong (the service answers 400 with it).
    pub fn parse(text: &str) -> Result<Filter, String> {
        let tokens = tokenize(text)?;
        let mut p = Parser { tokens, pos: 0 };
        let f = p.or()?;
        if p.pos != p.tokens.len() {
            return Err(format!("unexpected {:?} in filter", p.tokens[p.pos]));
        }
        Ok(f)
    }

    /// Whether `entity` matches.
    pub fn matches(&self, entity: &TableEntity) -> bool {
        match self {
            Filter::Const(b) => *b,
            Filter::And(a, b) => a.matches(entity) && b.matches(entity),
            Filter::Or(a, b) => a.matches(entity) || b.matches(entity),
            Filter::Not(a) => !a.matches(entity),
            Filter::Compare {
                property,
                op,
                literal,
            } => compare(entity, property, literal).is_some_and(|ord| op.holds(ord)),
        }
    }
}

impl Op {
    fn holds(self, ord: Ordering) -> bool {
        match self {
            Op::Eq => ord == Ordering::Equal,
            Op::Ne => ord != Ordering::Equal,
            Op::Gt => ord == Ordering::Greater,
            Op::Ge => ord != Ordering::Less,
            Op::Lt => ord == Ordering::Less,
            Op::Le => ord != Ordering::Greater,
        }
    }

    fn parse(word: &str) -> Option<Op> {
        Some(match word {
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "gt" => Op::Gt,
            "ge" => Op::Ge,
            "lt" => Op::Lt,
            "le" => Op::Le,
            _ => return None,
        })
    }
}

/// How the entity's `property` compares with `literal`; `None` when it is missing or of
/// another type.
fn compare(entity: &TableEntity, property: &str, literal: &Literal) -> Option<Ordering> {
    let value = entity.get(property)?;
    let annotation = entity
        .get(&format!("{property}@odata.type"))
        .and_then(Value::as_str);
    match literal {
        Literal::Str(s) => match (value, annotation) {
            (Value::String(v), None | Some("Edm.String")) => Some(v.as_str().cmp(s.as_str())),
            _ => None,
        },
        Literal::DateTime(t) => match (value, annotation) {
            (Value::String(v), Some("Edm.DateTime")) => {
                let v = OffsetDateTime::parse(v, &Rfc3339).ok()?;
                Some(v.cmp(t))
            }
            _ => None,
        },
        Literal::Int(i) => match (value, annotation) {
            (Value::String(v), Some("Edm.Int64")) => Some(v.parse::<i64>().ok()?.cmp(i)),
            (Value::Number(n), _) => {
                if let Some(v) = n.as_i64() {
                    Some(v.cmp(i))
                } else {
                    n.as_f64()?.partial_cmp(&(*i as f64))
                }
            }
            _ => None,
        },
        Literal::Double(d) => match value {
            Value::Number(n) => n.as_f64()?.partial_cmp(d),
            _ => None,
        },
        Literal::Bool(b) => match value {
            Value::Bool(v) => Some(v.cmp(b)),
            _ => None,
        },
    }
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '(' {
            out.push(Token::Open);
            i += 1;
        } else if c == ')' {
            out.push(Token::Close);
            i += 1;
        } else if c == '\'' {
            let (s, next) = quoted(&chars, i)?;
            out.push(Token::Lit(Literal::Str(s)));
            i = next;
        } else if c.is_ascii_digit() || c == '-' {
            let start = i;
            i += 1;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            out.push(Token::Lit(number(&word)?));
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            if i < chars.len() && chars[i] == '\'' {
                // A typed literal: datetime'…', guid'…', X'…'.
                let (s, next) = quoted(&chars, i)?;
                i = next;
                out.push(Token::Lit(typed(&word, s)?));
            } else {
                match word.as_str() {
                    "true" => out.push(Token::Lit(Literal::Bool(true))),
                    "false" => out.push(Token::Lit(Literal::Bool(false))),
                    _ => out.push(Token::Ident(word)),
                }
            }
        } else {
            return Err(format!("unexpected character {c:?} in filter"));
        }
    }
    Ok(out)
}

/// The text of a quoted literal starting at `chars[start] == '\''`, and where it ends.
fn quoted(chars: &[char], start: usize) -> Result<(String, usize), String> {
    let mut s = String::new();
    let mut i = start + 1;
    loop {
        match chars.get(i) {
            None => return Err("unterminated string in filter".into()),
            Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                s.push('\'');
                i += 2;
            }
            Some('\'') => return Ok((s, i + 1)),
            Some(c) => {
                s.push(*c);
                i += 1;
            }
        }
    }
}

fn number(word: &str) -> Result<Literal, String> {
    let bad = || format!("bad number {word:?} in filter");
    if let Some(digits) = word.strip_suffix('L') {
        return digits.parse().map(Literal::Int).map_err(|_| bad());
    }
    if word.contains('.') || word.contains('e') || word.contains('E') {
        return word.parse().map(Literal::Double).map_err(|_| bad());
    }
    word.parse().map(Literal::Int).map_err(|_| bad())
}

fn typed(kind: &str, text: String) -> Result<Literal, String> {
    match kind {
        "datetime" => OffsetDateTime::parse(&text, &Rfc3339)
            .map(Literal::DateTime)
            .map_err(|_| format!("bad datetime literal {text:?} in filter")),
        "guid" => Ok(Literal::Str(text)),
        _ => Err(format!("unsupported literal type {kind:?} in filter")),
    }
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek_word(&self) -> Option<&str> {
        match self.tokens.get(self.pos) {
            Some(Token::Ident(w)) => Some(w.as_str()),
            _ => None,
        }
    }

    fn or(&mut self) -> Result<Filter, String> {
        let mut left = self.and()?;
        while self.peek_word() == Some("or") {
            self.pos += 1;
            left = Filter::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, String> {
        let mut left = self.unary()?;
        while self.peek_word() == Some("and") {
            self.pos += 1;
            left = Filter::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Filter, String> {
        if self.peek_word() == Some("not") {
            self.pos += 1;
            return Ok(Filter::Not(Box::new(self.unary()?)));
        }
        match self.tokens.get(self.pos).cloned() {
            Some(Token::Open) => {
                self.pos += 1;
                let inner = self.or()?;
                if self.tokens.get(self.pos) != Some(&Token::Close) {
                    return Err("missing ) in filter".into());
                }
                self.pos += 1;
                Ok(inner)
            }
            Some(Token::Lit(Literal::Bool(b))) => {
                self.pos += 1;
                Ok(Filter::Const(b))
            }
            Some(Token::Ident(property)) => {
                self.pos += 1;
                let op = self
                    .peek_word()
                    .and_then(Op::parse)
                    .ok_or_else(|| format!("expected a comparison after {property}"))?;
                self.pos += 1;
                let Some(Token::Lit(literal)) = self.tokens.get(self.pos).cloned() else {
                    return Err(format!("expected a literal after {property}"));
                };
                self.pos += 1;
                Ok(Filter::Compare {
                    property,
                    op,
                    literal,
                })
            }
            other => Err(format!("unexpected {other:?} in filter")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::EntityExt;

    fn entity() -> TableEntity {
        let mut e = TableEntity::new();
        e.put_str("PartitionKey", "it's")
            .put_str("RowKey", "")
            .put_str("RuntimeStatus", "Running")
            .put_i32("N", 5)
            .put_i64("Big", 1 << 40)
            .put_bool("B", true)
            .put_datetime(
                "CreatedTime",
                time::macros::datetime!(2026-01-02 03:04:05 UTC),
            );
        e
    }

    fn check(filter: &str) -> bool {
        Filter::parse(filter).unwrap().matches(&entity())
    }

    #[test]
    fn comparisons_and_logic() {
        assert!(check("RowKey eq ''"));
        assert!(check("PartitionKey eq 'it''s'"));
        assert!(check(
            "RuntimeStatus eq 'Completed' or RuntimeStatus eq 'Running'"
        ));
        assert!(!check("RowKey eq '' and (RuntimeStatus eq 'Failed')"));
        assert!(check(
            "not (N gt 5) and N ge 5 and N lt 6 and N le 5 and N ne 4"
        ));
        assert!(check("Big eq 1099511627776L and B eq true"));
        assert!(check(
            "CreatedTime ge datetime'2026-01-02T03:04:05.0000000Z'"
        ));
        assert!(!check("CreatedTime lt datetime'2026-01-01T00:00:00Z'"));
        assert!(check("(PartitionKey lt '@' or PartitionKey ge 'A')"));
        // A missing property or a type mismatch is false.
        assert!(!check("Missing eq 'x'"));
        assert!(!check("N eq 'five'"));
    }

    #[test]
    fn refuses_malformed_filters() {
        for bad in [
            "RowKey eq",
            "RowKey xx 'a'",
            "(RowKey eq 'a'",
            "RowKey eq 'a",
            "a eq datetime'no'",
        ] {
            assert!(Filter::parse(bad).is_err(), "{bad}");
        }
    }
}
