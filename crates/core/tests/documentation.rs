//! `docs/api.md` lists the query support the code has: its table is generated from the collections' vocabularies.
//! With `GATEHOUSE_WRITE_DOCS=1` the test rewrites the page's table instead of comparing it.

const BEGIN: &str = "<!-- query-support: generated from the code; `GATEHOUSE_WRITE_DOCS=1 cargo test -p gatehouse-core --test documentation` rewrites it -->\n";
const END: &str = "<!-- query-support end -->";

#[test]
fn the_api_page_lists_the_query_support_the_code_has() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/api.md");
    let page = std::fs::read_to_string(&path)?;
    let (start, end) = match (page.find(BEGIN), page.find(END)) {
        (Some(start), Some(end)) if start < end => (start + BEGIN.len(), end),
        _ => return Err(format!("docs/api.md lacks the query-support markers ({BEGIN:?} … {END:?})").into()),
    };
    let generated = gatehouse_core::query::support_markdown();
    if std::env::var_os("GATEHOUSE_WRITE_DOCS").is_some() {
        std::fs::write(&path, format!("{}{generated}\n{}", &page[..start], &page[end..]))?;
        return Ok(());
    }
    assert_eq!(
        page[start..end].trim(),
        generated.trim(),
        "docs/api.md's query-support table differs from the code; regenerate it with GATEHOUSE_WRITE_DOCS=1"
    );
    Ok(())
}
