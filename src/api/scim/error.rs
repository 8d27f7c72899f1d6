//! SCIM's error shape (RFC 7644 §3.12): `status` (a string), `scimType` for the 400s and 409 it
//! names, and a `detail` that names the rule, never the offending value.

use actix_web::http::StatusCode;
use scim_v2::models::errors::ScimHttpError;

/// A SCIM error response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {}: {detail}", scim_type.unwrap_or("-"))]
pub struct ScimError {
    pub status: StatusCode,
    pub scim_type: Option<&'static str>,
    pub detail: String,
}

impl ScimError {
    fn bad_request(scim_type: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            scim_type: Some(scim_type),
            detail: detail.into(),
        }
    }

    /// The filter is not valid, or names what cannot be filtered on.
    pub fn invalid_filter(detail: impl Into<String>) -> Self {
        Self::bad_request("invalidFilter", detail)
    }

    /// A value is not valid for its attribute.
    pub fn invalid_value(detail: impl Into<String>) -> Self {
        Self::bad_request("invalidValue", detail)
    }

    /// The body of the response.
    pub fn body(&self) -> ScimHttpError {
        ScimHttpError {
            scim_type: self.scim_type.map(str::to_owned),
            detail: Some(self.detail.clone()),
            status: self.status.as_u16().to_string(),
            ..ScimHttpError::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_the_rfcs_shape() {
        let body = serde_json::to_value(ScimError::invalid_filter("bad").body()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                "scimType": "invalidFilter",
                "detail": "bad",
                "status": "400"
            })
        );
    }
}
