use super::rule::Violation;

/// `maxResults`: how many items one page may hold (1–100).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageSize(u32);

impl PageSize {
    pub const MIN: u32 = 1;
    pub const MAX: u32 = 100;

    /// Parses the query-string form of an integer member.
    pub fn parse(value: &str) -> Result<Self, Violation> {
        let number: i64 = value
            .parse()
            .map_err(|_| Violation::new("Member must be an integer"))?;
        if number < i64::from(Self::MIN) {
            return Err(Violation::new(format!(
                "Member must have value greater than or equal to {}",
                Self::MIN
            )));
        }
        if number > i64::from(Self::MAX) {
            return Err(Violation::new(format!(
                "Member must have value less than or equal to {}",
                Self::MAX
            )));
        }
        Ok(Self(number as u32))
    }

    pub fn get(self) -> u32 {
        self.0
    }
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
