//! Organisation rules: the unified social credit code (统一社会信用代码, GB 32100-2015).

const USCC_CHARSET: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";
const USCC_WEIGHTS: [u32; 17] = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];

/// Checks the 18-character code and its check character; returns it upper-cased.
pub fn validate_uscc(code: &str) -> Result<String, String> {
    let code = code.trim().to_ascii_uppercase();
    if code.chars().count() != 18 {
        return Err(format!("'{code}' must have 18 characters / 统一社会信用代码须为 18 位"));
    }
    let mut values = Vec::with_capacity(18);
    for c in code.chars() {
        let v = USCC_CHARSET
            .find(c)
            .ok_or_else(|| format!("'{c}' may not appear in a unified social credit code / 含非法字符"))?;
        values.push(v as u32);
    }
    let sum: u32 = values.iter().zip(USCC_WEIGHTS).map(|(v, w)| v * w).sum();
    let check = (31 - sum % 31) % 31;
    if values[17] != check {
        return Err(format!("'{code}' has a wrong check character / 校验位错误"));
    }
    Ok(code)
}

pub const KINDS: [&str; 3] = ["company", "union", "canteen"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_published_example_and_refuses_bad_check() {
        assert_eq!(validate_uscc("91350100M000100Y43"), Ok("91350100M000100Y43".to_string()));
        assert_eq!(validate_uscc(" 91350100m000100y43 ").map(|c| c.len()), Ok(18));
        assert!(validate_uscc("91350100M000100Y44").is_err());
        assert!(validate_uscc("91350100M000100Y4").is_err());
        assert!(validate_uscc("91350100M000100YI3").is_err());
    }
}
