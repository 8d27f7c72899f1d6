use super::rule::Violation;

/// Declares a closed set of wire values: parsing anything else is a model violation that lists the
/// allowed values, as AWS does.
macro_rules! wire_enum {
    // The shape is named after the type unless `as "Shape"` says otherwise.
    ($(#[$doc:meta])* $name:ident $(as $shape:literal)? { $($variant:ident => $wire:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $wire),+
                }
            }

            /// The wire values, in the model's order.
            pub const VALUES: &'static [&'static str] = &[$($wire),+];

            pub fn parse(value: &str) -> Result<Self, Violation> {
                match value {
                    $($wire => Ok($name::$variant),)+
                    _ => Err(Violation::new(concat!(
                        "Member must satisfy enum value set: [",
                        wire_enum!(@join $($wire),+),
                        "]"
                    ))),
                }
            }
        }

        impl $crate::domain::rule::Modelled for $name {
            const SHAPE: &'static str = wire_enum!(@shape $name $($shape)?);
            const RULE: $crate::domain::rule::Rule = $crate::domain::rule::Rule::OneOf(Self::VALUES);
        }
    };
    (@shape $name:ident) => { stringify!($name) };
    (@shape $name:ident $shape:literal) => { $shape };
    (@join $first:literal $(, $rest:literal)*) => { concat!($first $(, ", ", $rest)*) };
}

pub(crate) use wire_enum;

wire_enum!(
    /// SUPER_USER may do everything; APP_USER holds the permissions of its groups.
    UserType { SuperUser => "SUPER_USER", AppUser => "APP_USER" }
);

wire_enum!(
    /// Where a user is in its lifecycle: created as CREATING, promoted to ENABLED by the lifecycle
    /// task, and switched between ENABLED and DISABLED afterwards.
    UserStatus { Creating => "CREATING", Enabled => "ENABLED", Disabled => "DISABLED" }
);

wire_enum!(
    /// Whether the user may obtain programmatic credentials.
    ApiAccess { Enabled => "ENABLED", Disabled => "DISABLED" }
);

/// An administrator's request to move a user between ENABLED and DISABLED.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusChange {
    Enable,
    Disable,
}

impl UserStatus {
    /// The state machine of EnableUser and DisableUser:
    ///
    /// | from \ request | Enable         | Disable        |
    /// |----------------|----------------|----------------|
    /// | CREATING       | refused        | refused        |
    /// | ENABLED        | unchanged      | DISABLED       |
    /// | DISABLED       | ENABLED        | unchanged      |
    ///
    /// `Ok(None)` means the user is already where the request would take it: repeating a
    /// transition is harmless and moves no timestamp. A CREATING user is enabled by the lifecycle
    /// task only; it cannot be enabled early nor disabled before it exists fully.
    pub fn after(self, change: StatusChange) -> Result<Option<UserStatus>, UserStatus> {
        match (self, change) {
            (UserStatus::Creating, _) => Err(self),
            (UserStatus::Enabled, StatusChange::Enable)
            | (UserStatus::Disabled, StatusChange::Disable) => Ok(None),
            (UserStatus::Disabled, StatusChange::Enable) => Ok(Some(UserStatus::Enabled)),
            (UserStatus::Enabled, StatusChange::Disable) => Ok(Some(UserStatus::Disabled)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_round_trips() {
        for t in UserType::ALL {
            assert_eq!(UserType::parse(t.as_str()), Ok(*t));
        }
        for s in UserStatus::ALL {
            assert_eq!(UserStatus::parse(s.as_str()), Ok(*s));
        }
        for a in ApiAccess::ALL {
            assert_eq!(ApiAccess::parse(a.as_str()), Ok(*a));
        }
    }

    #[test]
    fn the_status_machine_table() {
        use StatusChange::*;
        use UserStatus::*;
        let table = [
            (Creating, Enable, Err(Creating)),
            (Creating, Disable, Err(Creating)),
            (Enabled, Enable, Ok(None)),
            (Enabled, Disable, Ok(Some(Disabled))),
            (Disabled, Enable, Ok(Some(Enabled))),
            (Disabled, Disable, Ok(None)),
        ];
        for (from, change, expected) in table {
            assert_eq!(from.after(change), expected, "{from:?} + {change:?}");
        }
    }

    #[test]
    fn unknown_values_name_the_allowed_set() {
        let err = UserType::parse("super_user").unwrap_err();
        assert_eq!(
            err.rule(),
            "Member must satisfy enum value set: [SUPER_USER, APP_USER]"
        );
    }
}
