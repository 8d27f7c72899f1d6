use super::rule::{IntegerRule, Modelled, Rule, Violation};

/// `maxResults`: how many items one page may hold (1–100).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageSize(u32);

impl PageSize {
    pub const MIN: u32 = 1;
    pub const MAX: u32 = 100;
    const BOUNDS: IntegerRule = IntegerRule {
        min: Self::MIN as i64,
        max: Self::MAX as i64,
    };

    /// Parses the query-string form of an integer member.
    pub fn parse(value: &str) -> Result<Self, Violation> {
        let number = Self::BOUNDS.parse(value)?;
        // Within 1..=100 once checked, so the conversion cannot fail.
        Ok(Self(u32::try_from(number).unwrap_or(Self::MAX)))
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl Modelled for PageSize {
    const SHAPE: &'static str = "ResultLimit";
    const RULE: Rule = Rule::Integer(Self::BOUNDS);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_sizes_are_1_to_100() {
        assert_eq!(PageSize::parse("1").map(PageSize::get), Ok(1));
        assert_eq!(PageSize::parse("100").map(PageSize::get), Ok(100));
        assert!(PageSize::parse("0").is_err());
        assert!(PageSize::parse("101").is_err());
        assert!(PageSize::parse("-5").is_err());
        assert!(PageSize::parse("ten").is_err());
        assert!(PageSize::parse("99999999999999999999").is_err());
    }
}
