//! Redundancy policies (`auto`, `ec:K+M`, `rep:KxR`) and the durability math the pool's `auto` choice uses.
//!
//! A [`Redundancy`] is concrete: a segment is split into `k` data fragments plus `m`
//! Reed–Solomon parity fragments, and each fragment is stored on `r` distinct peers. Redundancies are
//! either erasure-coded (`ec:K+M`, one copy of each fragment) or replicated (`rep:KxR`, no
//! parity). [`choose_policy`] picks the cheapest redundancy that meets a durability target when the
//! user asked for `auto`.

use std::fmt;
use std::str::FromStr;

/// Fewest data fragments per segment: at least two, so no single piece is ever a whole segment.
pub const MIN_DATA: u16 = 2;
/// Most data fragments per segment.
pub const MAX_DATA: u16 = 32;
/// Fewest parity fragments in an `ec` redundancy (with none there is no redundancy).
pub const MIN_PARITY: u16 = 1;
/// Most parity fragments in an `ec` redundancy.
pub const MAX_PARITY: u16 = 32;
/// Fewest copies of each fragment in a `rep` redundancy (one copy has no redundancy).
pub const MIN_COPIES: u16 = 2;
/// Most copies of each fragment in a `rep` redundancy.
pub const MAX_COPIES: u16 = 8;

/// Longest stretch of user input quoted back in an error message.
const SHOWN_CHARS: usize = 48;

/// An `f64` carried in a [`PolicyError`]. It compares by bit pattern, so errors can be `Eq` even
/// when the value is NaN, and prints as the shortest decimal that reads back as the same value.
#[derive(Debug, Clone, Copy)]
pub struct Float(pub f64);

impl PartialEq for Float {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}

impl Eq for Float {}

impl fmt::Display for Float {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// Why a redundancy policy was rejected, or why no policy could be chosen.
///
/// Variants that quote user text hold it shortened and escaped; those about a bound hold the
/// policy in canonical form and the offending number.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum PolicyError {
    /// The text is not `auto` and starts with neither `ec:` nor `rep:`.
    #[error(
        "unknown redundancy policy `{0}`: expected `auto`, `ec:K+M` (for example `ec:4+2`) or `rep:KxR` (for example `rep:2x3`)"
    )]
    Unknown(String),
    /// The text starts with `ec:` but is not two plain decimal numbers joined by `+`.
    #[error(
        "`{0}` is not a valid erasure-coding policy; write `ec:K+M` with K data and M parity fragments as plain decimal numbers, for example `ec:4+2`"
    )]
    MalformedEc(String),
    /// The text starts with `rep:` but is not two plain decimal numbers joined by `x`.
    #[error(
        "`{0}` is not a valid replication policy; write `rep:KxR` with K data fragments each stored on R peers as plain decimal numbers, for example `rep:2x3`"
    )]
    MalformedRep(String),
    /// A number is written with a leading zero, such as `ec:04+2`.
    #[error("`{0}` has a number with a leading zero; write the numbers without leading zeros")]
    LeadingZero(String),
    /// A number does not even fit in 16 bits, let alone within the bounds.
    #[error(
        "`{0}` has a number far too large; k must be {MIN_DATA} to {MAX_DATA}, parity {MIN_PARITY} to {MAX_PARITY} and copies {MIN_COPIES} to {MAX_COPIES}"
    )]
    NumberTooLarge(String),
    /// Fewer than [`MIN_DATA`] data fragments: the policy and its `k`.
    #[error(
        "`{0}` has k = {1}, but k must be at least {MIN_DATA} so that no single piece holds a whole segment"
    )]
    TooFewData(String, u16),
    /// More than [`MAX_DATA`] data fragments: the policy and its `k`.
    #[error("`{0}` has k = {1}, but k can be at most {MAX_DATA}; use fewer data fragments")]
    TooManyData(String, u16),
    /// An `ec` policy with no parity fragment, which has no redundancy.
    #[error("`{0}` has no parity; use at least {MIN_PARITY} parity fragment")]
    NoParity(String),
    /// More than [`MAX_PARITY`] parity fragments: the policy and its `m`.
    #[error("`{0}` has m = {1}, but m can be at most {MAX_PARITY}; use fewer parity fragments")]
    TooMuchParity(String, u16),
    /// A `rep` policy with fewer than [`MIN_COPIES`] copies, which has no redundancy: the policy
    /// and its `r`.
    #[error("`{0}` has r = {1}, but r must be at least {MIN_COPIES} to give any redundancy")]
    TooFewCopies(String, u16),
    /// More than [`MAX_COPIES`] copies: the policy and its `r`.
    #[error(
        "`{0}` has r = {1}, but r can be at most {MAX_COPIES}; use fewer copies, or an `ec:K+M` policy for more durability per byte"
    )]
    TooManyCopies(String, u16),
    /// The peer availability given to the durability math is not in `[0, 1]` (or is NaN).
    #[error("peer availability {0} must be a probability from 0 to 1, such as 0.9")]
    InvalidAvailability(Float),
    /// The durability target is not strictly between 0 and 1 (or is NaN).
    #[error("durability target {0} must be strictly between 0 and 1, such as 0.999999")]
    InvalidTarget(Float),
    /// No redundancy that fits on the available peers meets the durability target.
    #[error(
        "no redundancy reaches the durability target of {} with {peers} {} available {} of the time; add peers or lower the target",
        percent(target.0),
        if *.peers == 1 { "peer" } else { "peers" },
        percent(availability.0)
    )]
    NoPolicyMeetsTarget {
        /// How many distinct peers were available.
        peers: usize,
        /// The probability that each peer is reachable.
        availability: Float,
        /// The survival probability asked for.
        target: Float,
    },
}

/// User input as quoted in an error: shortened, with control and invisible characters escaped.
fn shown(input: &str) -> String {
    let mut out = String::new();
    for c in input.chars().take(SHOWN_CHARS) {
        match c {
            '"' | '\'' => out.push(c),
            _ => out.extend(c.escape_debug()),
        }
    }
    if input.chars().nth(SHOWN_CHARS).is_some() {
        out.push('…');
    }
    out
}

/// A concrete redundancy: `k` data fragments plus `m` parity fragments, each stored on `r`
/// distinct peers. Either `m == 0` (replicated, `rep:KxR`) or `r == 1` (erasure-coded, `ec:K+M`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Redundancy {
    k: u16,
    m: u16,
    r: u16,
}

impl Redundancy {
    /// An erasure-coded redundancy `ec:K+M`: `k` data plus `m` parity fragments, one copy of each.
    pub fn ec(k: u16, m: u16) -> Result<Self, PolicyError> {
        let policy = || format!("ec:{k}+{m}");
        check_data(k, policy)?;
        if m < MIN_PARITY {
            return Err(PolicyError::NoParity(policy()));
        }
        if m > MAX_PARITY {
            return Err(PolicyError::TooMuchParity(policy(), m));
        }
        Ok(Self { k, m, r: 1 })
    }

    /// A replicated redundancy `rep:KxR`: `k` data fragments, no parity, each stored on `r` peers.
    pub fn rep(k: u16, r: u16) -> Result<Self, PolicyError> {
        let policy = || format!("rep:{k}x{r}");
        check_data(k, policy)?;
        if r < MIN_COPIES {
            return Err(PolicyError::TooFewCopies(policy(), r));
        }
        if r > MAX_COPIES {
            return Err(PolicyError::TooManyCopies(policy(), r));
        }
        Ok(Self { k, m: 0, r })
    }

    /// Data fragments per segment; any `k` distinct fragments rebuild it.
    pub const fn k(&self) -> u16 {
        self.k
    }

    /// Parity fragments per segment (0 for a replicated redundancy).
    pub const fn m(&self) -> u16 {
        self.m
    }

    /// Copies of each fragment, each on a distinct peer (1 for an erasure-coded redundancy).
    pub const fn r(&self) -> u16 {
        self.r
    }

    /// Distinct fragments per segment: `k + m`.
    pub const fn fragments(&self) -> u16 {
        self.k + self.m
    }

    /// Stored pieces per segment, `(k + m) * r`: the number of distinct peers a segment needs.
    pub const fn pieces(&self) -> u16 {
        self.fragments() * self.r
    }

    /// Whether this is a replicated (`rep:KxR`) redundancy rather than an erasure-coded one.
    pub const fn is_replicated(&self) -> bool {
        self.m == 0
    }

    /// Bytes stored across the network per plaintext byte: `pieces / k`.
    pub const fn expansion(&self) -> f64 {
        self.pieces() as f64 / self.k as f64
    }
}

fn check_data(k: u16, policy: impl Fn() -> String) -> Result<(), PolicyError> {
    if k < MIN_DATA {
        return Err(PolicyError::TooFewData(policy(), k));
    }
    if k > MAX_DATA {
        return Err(PolicyError::TooManyData(policy(), k));
    }
    Ok(())
}

impl fmt::Display for Redundancy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_replicated() {
            write!(f, "rep:{}x{}", self.k, self.r)
        } else {
            write!(f, "ec:{}+{}", self.k, self.m)
        }
    }
}

/// A redundancy policy as a user writes it: `auto`, or a fixed redundancy.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Default)]
pub enum RedundancyPolicy {
    /// Let the pool pick the cheapest redundancy that meets its durability target ([`choose_policy`]).
    #[default]
    Auto,
    /// Always use this redundancy.
    Fixed(Redundancy),
}

impl From<Redundancy> for RedundancyPolicy {
    fn from(redundancy: Redundancy) -> Self {
        Self::Fixed(redundancy)
    }
}

impl fmt::Display for RedundancyPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Auto => f.write_str("auto"),
            Self::Fixed(redundancy) => redundancy.fmt(f),
        }
    }
}

impl FromStr for RedundancyPolicy {
    type Err = PolicyError;

    /// Parses exactly `auto`, `ec:K+M` or `rep:KxR`, with K, M and R plain decimal numbers
    /// (no sign, spaces or leading zeros). Every accepted text is in canonical form.
    fn from_str(text: &str) -> Result<Self, PolicyError> {
        if text == "auto" {
            return Ok(Self::Auto);
        }
        if let Some(body) = text.strip_prefix("ec:") {
            let (k, m) = parse_pair(text, body, '+', PolicyError::MalformedEc)?;
            return Redundancy::ec(k, m).map(Self::Fixed);
        }
        if let Some(body) = text.strip_prefix("rep:") {
            let (k, r) = parse_pair(text, body, 'x', PolicyError::MalformedRep)?;
            return Redundancy::rep(k, r).map(Self::Fixed);
        }
        Err(PolicyError::Unknown(shown(text)))
    }
}

/// Splits `body` at `separator` into two plain decimal numbers that fit in a `u16`.
fn parse_pair(
    text: &str,
    body: &str,
    separator: char,
    malformed: fn(String) -> PolicyError,
) -> Result<(u16, u16), PolicyError> {
    let is_number = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let has_leading_zero = |s: &str| s.len() > 1 && s.starts_with('0');
    let (a, b) = match body.split_once(separator) {
        Some((a, b)) if is_number(a) && is_number(b) => (a, b),
        _ => return Err(malformed(shown(text))),
    };
    if has_leading_zero(a) || has_leading_zero(b) {
        return Err(PolicyError::LeadingZero(shown(text)));
    }
    // Both are non-empty runs of ASCII digits, so parsing can only fail by overflowing.
    match (a.parse::<u16>(), b.parse::<u16>()) {
        (Ok(a), Ok(b)) => Ok((a, b)),
        _ => Err(PolicyError::NumberTooLarge(shown(text))),
    }
}

fn check_availability(availability: f64) -> Result<(), PolicyError> {
    if (0.0..=1.0).contains(&availability) {
        Ok(())
    } else {
        Err(PolicyError::InvalidAvailability(Float(availability)))
    }
}

/// Probability that a segment stored as `redundancy` is NOT readable when each peer is independently
/// reachable with probability `availability`.
///
/// A fragment is unreadable when all `r` of its copies are: `f = (1 - p)^r`, and readable with
/// `q = 1 - f`. The segment is lost when fewer than `k` of its `n = k + m` fragments are
/// readable, the lower binomial tail `sum_{i=0}^{k-1} C(n,i) q^i f^(n-i)`. The tail is summed
/// directly (never as `1 - survival`), so losses far below `f64::EPSILON` keep their precision.
pub fn segment_loss_probability(
    redundancy: Redundancy,
    availability: f64,
) -> Result<f64, PolicyError> {
    check_availability(availability)?;
    Ok(loss(redundancy, availability))
}

/// Probability that a segment stored as `redundancy` is readable: `1 -` [`segment_loss_probability`].
pub fn segment_survival_probability(
    redundancy: Redundancy,
    availability: f64,
) -> Result<f64, PolicyError> {
    segment_loss_probability(redundancy, availability).map(|loss| 1.0 - loss)
}

/// A probability as a person reads it: a percentage with as many decimals as it has
/// leading nines, never rounded up (`0.999999` is "99.9999%", `0.99000001` "99%", `0.5`
/// "50%"; only a certainty is "100%").
pub fn percent(p: f64) -> String {
    if p.is_nan() {
        return "an unknown share".into();
    }
    let p = p.clamp(0.0, 1.0);
    if p >= 1.0 {
        return "100%".into();
    }
    // Worked from the complement, which keeps its precision however many nines there are:
    // leading nines of p (0.999 has three), then the complement's percentage rounded up at
    // that many decimals, so the survival shown is rounded down. A float's last bit is
    // allowed for both ways.
    let lost = 1.0 - p;
    let nines = (-lost.log10() + 1e-9).floor().max(0.0) as i32;
    let decimals = (nines - 2).clamp(1, 12);
    let scale = 10f64.powi(decimals);
    let shown = 100.0 - (lost * 100.0 * scale - 1e-6).ceil().max(0.0) / scale;
    let text = format!("{shown:.*}", decimals as usize);
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}%")
}

/// The most durable redundancy `peers` distinct peers, each reachable with probability
/// `availability`, can carry, with its segment survival probability: for a network too
/// small for a durability target, the best it can do now. Ties go to the lower expansion,
/// then fewer pieces, then the smaller `(k, m, r)`. [`PolicyError::NoPolicyMeetsTarget`]
/// (with `target`) when no redundancy fits at all (fewer than three peers).
pub fn most_durable(
    peers: usize,
    availability: f64,
    target: f64,
) -> Result<(Redundancy, f64), PolicyError> {
    check_availability(availability)?;
    let mut best: Option<(Redundancy, f64)> = None;
    for redundancy in all_redundancies() {
        if usize::from(redundancy.pieces()) > peers {
            continue;
        }
        let candidate = loss(redundancy, availability);
        let better = match best {
            None => true,
            Some((current, current_loss)) => candidate
                .total_cmp(&current_loss)
                .then(cmp_expansion(redundancy, current))
                .then(cmp_shape(redundancy, current))
                .is_lt(),
        };
        if better {
            best = Some((redundancy, candidate));
        }
    }
    best.map(|(redundancy, loss)| (redundancy, 1.0 - loss))
        .ok_or(PolicyError::NoPolicyMeetsTarget {
            peers,
            availability: Float(availability),
            target: Float(target),
        })
}

/// The lower binomial tail, for an availability already known to be in `[0, 1]`.
fn loss(redundancy: Redundancy, p: f64) -> f64 {
    let r = redundancy.r;
    // Fragment unreadable: every copy's peer is away. `1 - p` is exact for p >= 0.5.
    let fail = (1.0 - p).powi(i32::from(r));
    // Fragment readable, computed on its own so it stays accurate when p is tiny.
    let ok = -(f64::from(r) * (-p).ln_1p()).exp_m1();
    let n = redundancy.fragments();
    let mut binomial: u128 = 1; // C(n, i), exact: C(64, 32) < 2^61.
    let mut sum = 0.0;
    for i in 0..redundancy.k {
        sum += binomial as f64 * ok.powi(i32::from(i)) * fail.powi(i32::from(n - i));
        binomial = binomial * u128::from(n - i) / u128::from(i + 1);
    }
    // When the loss is close to 1, rounding can push the sum a hair above it.
    sum.min(1.0)
}

/// Every redundancy within the bounds, erasure-coded first, without allocating.
fn all_redundancies() -> impl Iterator<Item = Redundancy> {
    let ec = (MIN_DATA..=MAX_DATA)
        .flat_map(|k| (MIN_PARITY..=MAX_PARITY).map(move |m| Redundancy { k, m, r: 1 }));
    let rep = (MIN_DATA..=MAX_DATA)
        .flat_map(|k| (MIN_COPIES..=MAX_COPIES).map(move |r| Redundancy { k, m: 0, r }));
    ec.chain(rep)
}

/// The last tie-breaks between redundancies: fewer pieces, then the smaller `(k, m, r)`.
fn cmp_shape(a: Redundancy, b: Redundancy) -> std::cmp::Ordering {
    (a.pieces().cmp(&b.pieces())).then((a.k, a.m, a.r).cmp(&(b.k, b.m, b.r)))
}

/// Compares expansions exactly, as the fractions `pieces / k`.
fn cmp_expansion(a: Redundancy, b: Redundancy) -> std::cmp::Ordering {
    let lhs = u32::from(a.pieces()) * u32::from(b.k);
    let rhs = u32::from(b.pieces()) * u32::from(a.k);
    lhs.cmp(&rhs)
}

/// The cheapest redundancy that `peers` distinct peers, each reachable with probability
/// `availability`, can carry with a segment survival probability of at least `target`
/// (for example `0.999999`).
///
/// Considers every `ec:K+M` and `rep:KxR` redundancy within the bounds whose [`Redundancy::pieces`]
/// is at most `peers` and whose loss probability is at most `1 - target`, and picks the lowest
/// expansion; ties go to the lower loss probability, then fewer pieces, then the smaller
/// `(k, m, r)`.
pub fn choose_policy(
    peers: usize,
    availability: f64,
    target: f64,
) -> Result<Redundancy, PolicyError> {
    check_availability(availability)?;
    if target.is_nan() || target <= 0.0 || target >= 1.0 {
        return Err(PolicyError::InvalidTarget(Float(target)));
    }
    let allowed_loss = 1.0 - target;
    let mut best: Option<(Redundancy, f64)> = None;
    for redundancy in all_redundancies() {
        if usize::from(redundancy.pieces()) > peers {
            continue;
        }
        if let Some((current, _)) = best
            && cmp_expansion(redundancy, current).is_gt()
        {
            continue;
        }
        let candidate_loss = loss(redundancy, availability);
        if candidate_loss > allowed_loss {
            continue;
        }
        let better = match best {
            None => true,
            Some((current, current_loss)) => cmp_expansion(redundancy, current)
                .then(candidate_loss.total_cmp(&current_loss))
                .then(cmp_shape(redundancy, current))
                .is_lt(),
        };
        if better {
            best = Some((redundancy, candidate_loss));
        }
    }
    best.map(|(redundancy, _)| redundancy)
        .ok_or(PolicyError::NoPolicyMeetsTarget {
            peers,
            availability: Float(availability),
            target: Float(target),
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use proptest::prelude::*;

    use super::PolicyError::*;
    use super::*;

    fn parse(text: &str) -> Result<RedundancyPolicy, PolicyError> {
        text.parse()
    }

    fn ec(k: u16, m: u16) -> Redundancy {
        Redundancy::ec(k, m).unwrap()
    }

    fn rep(k: u16, r: u16) -> Redundancy {
        Redundancy::rep(k, r).unwrap()
    }

    fn lost(redundancy: Redundancy, p: f64) -> f64 {
        segment_loss_probability(redundancy, p).unwrap()
    }

    fn assert_close(actual: f64, expected: f64, relative: f64) {
        let close = (actual - expected).abs() <= relative * expected;
        assert!(close, "{actual:e} is not {expected:e}");
    }

    /// Loss by dynamic programming over the number of readable fragments: no binomials.
    fn reference_loss(redundancy: Redundancy, p: f64) -> f64 {
        let fail = (1.0 - p).powi(i32::from(redundancy.r()));
        let mut readable = vec![0.0; usize::from(redundancy.fragments()) + 1];
        readable[0] = 1.0;
        for fragment in 1..readable.len() {
            for j in (1..=fragment).rev() {
                readable[j] = readable[j] * fail + readable[j - 1] * (1.0 - fail);
            }
            readable[0] *= fail;
        }
        readable[..usize::from(redundancy.k())].iter().sum()
    }

    fn any_redundancy() -> impl Strategy<Value = Redundancy> {
        prop_oneof![
            (MIN_DATA..=MAX_DATA, MIN_PARITY..=MAX_PARITY).prop_map(|(k, m)| ec(k, m)),
            (MIN_DATA..=MAX_DATA, MIN_COPIES..=MAX_COPIES).prop_map(|(k, r)| rep(k, r)),
        ]
    }

    #[test]
    fn redundancies_and_bounds() {
        let sizes = |s: Redundancy| (s.k(), s.m(), s.r(), s.fragments(), s.pieces());
        let (a, b) = (ec(4, 2), rep(2, 3));
        assert_eq!(sizes(a), (4, 2, 1, 6, 6));
        assert_eq!(sizes(b), (2, 0, 3, 2, 6));
        assert_eq!(sizes(ec(32, 32)), (32, 32, 1, 64, 64));
        assert_eq!(sizes(rep(32, 8)), (32, 0, 8, 32, 256));
        assert_eq!((a.is_replicated(), b.is_replicated()), (false, true));
        assert_eq!((a.expansion(), b.expansion()), (1.5, 3.0));
        for k in (0..=40).chain([u16::MAX]) {
            for n in (0..=40).chain([u16::MAX]) {
                let k_ok = (2..=32).contains(&k);
                assert_eq!(Redundancy::ec(k, n).is_ok(), k_ok && (1..=32).contains(&n));
                assert_eq!(Redundancy::rep(k, n).is_ok(), k_ok && (2..=8).contains(&n));
            }
        }
        assert_eq!(all_redundancies().count(), 31 * 32 + 31 * 7);
    }

    #[test]
    fn parses_the_canonical_forms() {
        assert_eq!(parse("auto"), Ok(RedundancyPolicy::Auto));
        assert_eq!(parse("ec:4+2"), Ok(RedundancyPolicy::Fixed(ec(4, 2))));
        assert_eq!(parse("rep:2x3"), Ok(rep(2, 3).into()));
        for text in "auto ec:2+1 ec:10+10 ec:32+32 rep:2x2 rep:32x8".split(' ') {
            assert_eq!(parse(text).unwrap().to_string(), text);
        }
    }

    #[test]
    fn rejects_malformed_text() {
        // Each check lists texts separated by `|`; they are short and plain, so errors quote
        // them unchanged.
        let check = |texts: &str, expected: fn(String) -> PolicyError| {
            for text in texts.split('|') {
                assert_eq!(parse(text), Err(expected(text.to_owned())), "{text:?}");
            }
        };
        check(
            "|auto | auto|Auto|EC:4+2|ec4+2|ec 4+2|foo|rep|'auto'|\"ec\"",
            Unknown,
        );
        check("ec:|ec:4|ec:4+|ec:+2|ec:4+2+1", MalformedEc);
        check("ec:4 +2|ec:4+2 |ec:+4+2|ec:4++2", MalformedEc);
        check("ec:-4+2|ec:4x2|ec:٤+2", MalformedEc);
        check("rep:|rep:2x|rep:x3|rep:2X3", MalformedRep);
        check("rep:2+3|rep:2x3x1|rep:+2x3", MalformedRep);
        check("ec:04+2|ec:4+02|ec:4+00", LeadingZero);
        check("ec:00+2|rep:2x03|rep:02x3", LeadingZero);
        check("ec:99999999999999999999+1", NumberTooLarge);
        check("ec:65536+1|rep:2x65536", NumberTooLarge);
        check("ec:4+0|ec:32+0", NoParity);
        for (text, expected) in [
            ("ec:0+2", TooFewData("ec:0+2".into(), 0)),
            ("ec:1+1", TooFewData("ec:1+1".into(), 1)),
            ("rep:1x3", TooFewData("rep:1x3".into(), 1)),
            ("ec:33+2", TooManyData("ec:33+2".into(), 33)),
            ("rep:65535x2", TooManyData("rep:65535x2".into(), 65535)),
            ("ec:4+33", TooMuchParity("ec:4+33".into(), 33)),
            ("rep:2x1", TooFewCopies("rep:2x1".into(), 1)),
            ("rep:2x0", TooFewCopies("rep:2x0".into(), 0)),
            ("rep:2x9", TooManyCopies("rep:2x9".into(), 9)),
        ] {
            assert_eq!(parse(text), Err(expected), "{text}");
        }
    }

    #[test]
    fn error_messages() {
        let message = |text: &str| parse(text).unwrap_err().to_string();
        assert_eq!(
            message("ec:1+2"),
            "`ec:1+2` has k = 1, but k must be at least 2 so that no single piece holds a whole segment"
        );
        assert_eq!(
            message("foo"),
            "unknown redundancy policy `foo`: expected `auto`, `ec:K+M` (for example `ec:4+2`) or `rep:KxR` (for example `rep:2x3`)"
        );
        let no_parity = "`ec:4+0` has no parity; use at least 1 parity fragment";
        assert_eq!(message("ec:4+0"), no_parity);
        // Long or odd input is shortened and escaped.
        let shown = format!("x\\n{}…", "y".repeat(SHOWN_CHARS - 2));
        let long = format!("x\n{}", "y".repeat(99));
        assert_eq!(parse(&long), Err(Unknown(shown)));
        assert_eq!(
            choose_policy(2, 0.5, 0.999999).unwrap_err().to_string(),
            "no redundancy reaches the durability target of 99.9999% with 2 peers available 50% of the time; add peers or lower the target"
        );
        let one = choose_policy(1, 0.5, 0.9).unwrap_err().to_string();
        assert!(one.contains("with 1 peer available"), "{one}");
        let measured = choose_policy(4, 0.990_000_016_501_309_1, 0.999_999).unwrap_err();
        assert!(
            measured.to_string().contains("4 peers available 99% of"),
            "{measured}"
        );
    }

    #[test]
    fn percentages_show_the_nines_and_never_round_up() {
        assert_eq!(percent(0.999_999), "99.9999%");
        assert_eq!(percent(0.999_999_9), "99.99999%");
        assert_eq!(percent(0.990_000_016_5), "99%");
        assert_eq!(percent(0.99), "99%");
        assert_eq!(percent(0.9999), "99.99%");
        assert_eq!(percent(0.999_95), "99.99%");
        assert_eq!(percent(0.5), "50%");
        assert_eq!(percent(0.123), "12.3%");
        assert_eq!(percent(0.0), "0%");
        assert_eq!(percent(1.0 - 1e-17), "100%");
        assert_eq!(percent(1.0 - 1e-15), "99.999999999999%");
        assert_eq!(percent(f64::NAN), "an unknown share");
    }

    #[test]
    fn the_most_durable_redundancy_a_small_network_carries() {
        // Four peers at 99%: nothing meets six nines, and four copies of one fragment
        // (expansion 4, the lowest loss on four peers) is the best there is.
        assert!(choose_policy(4, 0.99, 0.999_999).is_err());
        let (best, survival) = most_durable(4, 0.99, 0.999_999).unwrap();
        assert_eq!(survival, 1.0 - loss(best, 0.99));
        assert!(best.pieces() <= 4, "{best}");
        for other in all_redundancies().filter(|r| r.pieces() <= 4) {
            assert!(
                loss(other, 0.99) >= loss(best, 0.99),
                "{other} beats {best}"
            );
        }
        assert!(survival > 0.9999 && survival < 0.999_999, "{survival}");
        // Below three peers nothing fits at all.
        assert!(matches!(
            most_durable(2, 0.99, 0.999_999),
            Err(NoPolicyMeetsTarget { peers: 2, .. })
        ));
    }

    #[test]
    fn hand_computed_values() {
        // ec:2+1 at p = 0.9: survival = p^3 + 3p^2(1-p) = 0.729 + 0.243 = 0.972.
        let survival = segment_survival_probability(ec(2, 1), 0.9).unwrap();
        assert_close(survival, 0.972, 1e-12);
        // ... so loss = 0.1^3 + 3·0.9·0.1^2 = 0.001 + 0.027 = 0.028.
        assert_close(lost(ec(2, 1), 0.9), 0.028, 1e-12);
        // rep:2x2 at p = 0.9: q = 1 - 0.1^2 = 0.99, survival = q^2 = 0.9801.
        let survival = segment_survival_probability(rep(2, 2), 0.9).unwrap();
        assert_close(survival, 0.9801, 1e-12);
        // ec:4+2 at p = 0.5: loss = (C(6,0) + C(6,1) + C(6,2) + C(6,3)) / 2^6 = 42/64.
        assert_eq!(lost(ec(4, 2), 0.5), 42.0 / 64.0);
        // ec:3+3 at p = 0.99: loss = 0.01^6 + 6·0.99·0.01^5 + 15·0.99^2·0.01^4
        //   = 1e-12 + 5.94e-10 + 1.47015e-7 = 1.4761e-7.
        assert_close(lost(ec(3, 3), 0.99), 1.4761e-7, 1e-9);
        // High nines, far below what 1 - survival can represent (multiples of 2^-53 ≈ 1.1e-16).
        // ec:4+8 at p = 0.99 (q = 0.99, f = 0.01, n = 12) is lost when at most 3 are readable:
        //   C(12,3)·0.99^3·0.01^9  = 220·0.970299·1e-18 = 2.1346578e-16
        // + C(12,2)·0.99^2·0.01^10 =  66·0.9801·1e-20   = 6.46866e-19
        // + C(12,1)·0.99·0.01^11   =  12·0.99·1e-22     = 1.188e-21
        // + 0.01^12                                     = 1e-24
        // = 2.14113835e-16 exactly (42822767 / 2e23).
        assert_close(lost(ec(4, 8), 0.99), 2.14113835e-16, 1e-9);
        // ec:2+32 at p = 0.999: loss = f^34 + 34·q·f^33 = 34·0.999e-99 + 1e-102.
        assert_close(lost(ec(2, 32), 0.999), 34.0 * 0.999e-99 + 1e-102, 1e-9);
        // rep:2x8 at p = 0.9: f = 0.1^8 = 1e-8, loss = 1 - (1 - f)^2 = 2e-8 - 1e-16.
        assert_close(lost(rep(2, 8), 0.9), 2e-8 - 1e-16, 1e-9);
    }

    #[test]
    fn boundary_and_invalid_inputs() {
        for redundancy in all_redundancies() {
            assert_eq!(
                (lost(redundancy, 0.0), lost(redundancy, 1.0)),
                (1.0, 0.0),
                "{redundancy}"
            );
            assert_eq!(segment_survival_probability(redundancy, 0.0), Ok(0.0));
            assert_eq!(segment_survival_probability(redundancy, 1.0), Ok(1.0));
        }
        for p in [-0.1, 1.1, -1e-300, f64::NAN, f64::INFINITY, -f64::INFINITY] {
            let expected = Err(InvalidAvailability(Float(p)));
            assert_eq!(segment_loss_probability(ec(4, 2), p), expected);
            assert_eq!(segment_survival_probability(ec(4, 2), p), expected);
            assert_eq!(choose_policy(10, p, 0.9).map(|s| s.expansion()), expected);
        }
        for target in [0.0, 1.0, -0.5, 1.5, f64::NAN, f64::INFINITY, -f64::INFINITY] {
            let expected = Err(InvalidTarget(Float(target)));
            assert_eq!(choose_policy(10, 0.9, target), expected);
        }
    }

    #[test]
    fn chooses_by_hand() {
        // At p = 0.99 (f = 0.01) the redundancies that fit on 6 peers, cheapest first, and their
        // loss against the allowed 1e-6:
        //   ec:5+1 (1.2) P(>= 2 of 6 fail) ≈ 1.5e-3; ec:4+1 (1.25) ≈ 1e-3; ec:3+1 (1.33) ≈ 6e-4;
        //   ec:2+1 and ec:4+2 (1.5) ≈ 3e-4 and 2e-5; ec:3+2 (1.67) P(>= 3 of 5 fail) ≈ 1e-5;
        //   at 2: ec:2+2 ≈ 4e-6, rep:2x2 ≈ 2e-4, rep:3x2 ≈ 3e-4, ec:3+3 = 1.4761e-7 (above).
        assert_eq!(choose_policy(6, 0.99, 0.999999), Ok(ec(3, 3)));
        // With every peer always up, the cheapest redundancy that fits wins.
        assert_eq!(choose_policy(3, 1.0, 0.999999), Ok(ec(2, 1)));
        assert_eq!(choose_policy(1000, 1.0, 0.999999), Ok(ec(32, 1)));
        let none = |peers, p, target| NoPolicyMeetsTarget {
            peers,
            availability: Float(p),
            target: Float(target),
        };
        // Two peers cannot hold any redundancy (the smallest, ec:2+1, needs 3).
        for peers in [0, 1, 2] {
            assert_eq!(
                choose_policy(peers, 0.999, 0.9),
                Err(none(peers, 0.999, 0.9))
            );
        }
        // At p = 0.1 even ec:2+32 loses a segment with probability ≈ 0.13.
        assert_eq!(
            choose_policy(1000, 0.1, 0.999999),
            Err(none(1000, 0.1, 0.999999))
        );
        assert_eq!(choose_policy(1000, 0.0, 0.5), Err(none(1000, 0.0, 0.5)));
    }

    #[test]
    fn choose_matches_brute_force() {
        let mut redundancies = Vec::new();
        for k in 0..=40 {
            redundancies.extend((0..=40).filter_map(|m| Redundancy::ec(k, m).ok()));
            redundancies.extend((0..=10).filter_map(|r| Redundancy::rep(k, r).ok()));
        }
        for p in [0.5, 0.8, 0.9, 0.95, 0.99, 0.999] {
            let losses: Vec<_> = redundancies.iter().map(|&s| (s, lost(s, p))).collect();
            for target in [0.99, 0.999999] {
                for peers in 3..=40 {
                    let mut fits: Vec<_> = (losses.iter().copied())
                        .filter(|(s, l)| usize::from(s.pieces()) <= peers && *l <= 1.0 - target)
                        .collect();
                    fits.sort_by(|(a, la), (b, lb)| {
                        (a.expansion().total_cmp(&b.expansion()))
                            .then(la.total_cmp(lb))
                            .then(a.pieces().cmp(&b.pieces()))
                            .then((a.k(), a.m(), a.r()).cmp(&(b.k(), b.m(), b.r())))
                    });
                    let expected = fits.first().map(|&(s, _)| s);
                    let chosen = choose_policy(peers, p, target).ok();
                    assert_eq!(chosen, expected, "{peers} peers at {p} for {target}");
                }
            }
        }
    }

    proptest! {
        #[test]
        fn display_parse_round_trip(redundancy in any_redundancy(), auto in any::<bool>()) {
            let policy = if auto { RedundancyPolicy::Auto } else { redundancy.into() };
            prop_assert_eq!(parse(&policy.to_string()), Ok(policy));
        }

        #[test]
        fn arbitrary_text_never_panics(
            text in prop_oneof![any::<String>(), "(auto|ec:|rep:|EC:|ec)?[0-9+x -]{0,10}"],
        ) {
            // Whatever is accepted is already in canonical form.
            if let Ok(policy) = parse(&text) {
                prop_assert_eq!(policy.to_string(), text);
            }
        }

        #[test]
        fn loss_matches_reference(redundancy in any_redundancy(), p in 0.0..=1.0f64) {
            let (direct, reference) = (lost(redundancy, p), reference_loss(redundancy, p));
            prop_assert!((0.0..=1.0).contains(&direct));
            prop_assert!((direct - reference).abs() <= 1e-9 * reference + 1e-300);
        }

        #[test]
        fn more_peers_never_cost_more(
            peers in 0..80usize,
            extra in 0..80usize,
            p in prop_oneof![0.0..=1.0f64, 0.9..=1.0f64],
            target in prop_oneof![0.5..0.999f64, Just(0.999999), Just(0.99999999)],
        ) {
            let fewer = choose_policy(peers, p, target);
            let more = choose_policy(peers + extra, p, target);
            for (chosen, peers) in [(&fewer, peers), (&more, peers + extra)] {
                if let Ok(redundancy) = chosen {
                    prop_assert!(usize::from(redundancy.pieces()) <= peers);
                    prop_assert!(lost(*redundancy, p) <= 1.0 - target);
                }
            }
            if let Ok(fewer) = fewer {
                prop_assert!(more.unwrap().expansion() <= fewer.expansion());
            }
        }
    }
}
