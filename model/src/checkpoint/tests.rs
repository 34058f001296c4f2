use super::*;
use safetensors::tensor::TensorView;
use serde_json::json;

/// Writes `tensors` (name, dtype, shape; bytes are a counting pattern) as one safetensors file.
fn write_file(path: &Path, tensors: &[(&str, Dtype, &[usize])]) {
    let data: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(name, dtype, shape)| {
            let len = shape.iter().product::<usize>() * dtype.bitsize() / 8;
            (name.to_string(), *dtype, shape.to_vec(), (0..len).map(|i| (i * 7 % 251) as u8).collect())
        })
        .collect();
    let views = data.iter().map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap()));
    safetensors::serialize_to_file(views, None, path).unwrap();
}

fn write_index(dir: &Path, map: Value) {
    std::fs::write(dir.join(INDEX_FILE), json!({"metadata": {}, "weight_map": map}).to_string()).unwrap();
}

fn single() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_file(&dir.path().join(SINGLE_FILE), &[("a", Dtype::BF16, &[2, 3]), ("b", Dtype::F32, &[4])]);
    dir
}

fn sharded() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_file(&dir.path().join("part-1.safetensors"), &[("a", Dtype::BF16, &[2, 3])]);
    write_file(&dir.path().join("part-2.safetensors"), &[("b", Dtype::BF16, &[5])]);
    write_index(dir.path(), json!({"a": "part-1.safetensors", "b": "part-2.safetensors"}));
    dir
}

fn open_error(dir: &Path) -> String {
    Checkpoint::open(dir).err().map(|e| e.to_string()).unwrap_or_default()
}

#[test]
fn single_file_lists_its_tensors() {
    let dir = single();
    let mut names: Vec<_> = Checkpoint::open(dir.path()).unwrap().names().map(str::to_owned).collect();
    names.sort();
    assert_eq!(names, ["a", "b"]);
}

#[test]
fn tensor_bytes_come_from_the_mapping() {
    let dir = single();
    let checkpoint = Checkpoint::open(dir.path()).unwrap();
    let view = checkpoint.tensor("b", &[4], None).unwrap();
    let expected: Vec<u8> = (0..16).map(|i| (i * 7 % 251) as u8).collect();
    assert_eq!((view.dtype, view.bytes), (WeightDType::F32, expected.as_slice()));
}

#[test]
fn sharded_tensors_are_found_through_the_index() {
    let dir = sharded();
    let checkpoint = Checkpoint::open(dir.path()).unwrap();
    assert_eq!(checkpoint.tensor("b", &[5], Some(WeightDType::BF16)).unwrap().bytes.len(), 10);
}

#[test]
fn index_takes_precedence_over_a_single_file() {
    let dir = sharded();
    write_file(&dir.path().join(SINGLE_FILE), &[("z", Dtype::F32, &[1])]);
    assert!(!Checkpoint::open(dir.path()).unwrap().contains("z"));
}

#[test]
fn directory_without_weights_says_what_it_looked_for() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        open_error(dir.path()),
        format!("no weights in `{}`: expected model.safetensors or model.safetensors.index.json", dir.path().display())
    );
}

#[test]
fn missing_shard_is_named() {
    let dir = sharded();
    std::fs::remove_file(dir.path().join("part-2.safetensors")).unwrap();
    assert_eq!(
        open_error(dir.path()),
        format!(
            "shard `{}` listed in `{}` is missing",
            dir.path().join("part-2.safetensors").display(),
            dir.path().join(INDEX_FILE).display()
        )
    );
}

#[test]
fn malformed_index_names_the_index() {
    let dir = sharded();
    std::fs::write(dir.path().join(INDEX_FILE), "{\"weight_map\": ").unwrap();
    assert!(open_error(dir.path()).starts_with(&format!("`{}`: malformed JSON", dir.path().join(INDEX_FILE).display())));
}

#[test]
fn index_without_weight_map_is_rejected() {
    let dir = sharded();
    std::fs::write(dir.path().join(INDEX_FILE), "{\"metadata\": {}}").unwrap();
    assert!(open_error(dir.path())
        .ends_with("`weight_map` must be an object mapping tensor names to shard file names; got null"));
}

#[test]
fn non_string_shard_name_is_rejected() {
    let dir = sharded();
    write_index(dir.path(), json!({"a": 3}));
    assert!(open_error(dir.path()).ends_with("to shard file names; got 3"));
}

#[test]
fn truncated_file_is_not_loaded() {
    let dir = single();
    let path = dir.path().join(SINGLE_FILE);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
    assert!(open_error(dir.path()).starts_with(&format!("`{}`: not a valid safetensors file", path.display())));
}

#[test]
fn missing_tensor_is_named_with_its_source() {
    let dir = single();
    let checkpoint = Checkpoint::open(dir.path()).unwrap();
    let error = checkpoint.tensor("lm_head.weight", &[1], None).unwrap_err().to_string();
    assert_eq!(
        error,
        format!(
            "tensor `lm_head.weight` is missing from the checkpoint (`{}`)",
            dir.path().join(SINGLE_FILE).display()
        )
    );
}

#[test]
fn tensor_listed_in_index_but_absent_from_its_shard_names_the_shard() {
    let dir = sharded();
    write_index(dir.path(), json!({"a": "part-1.safetensors", "b": "part-1.safetensors"}));
    let checkpoint = Checkpoint::open(dir.path()).unwrap();
    let error = checkpoint.tensor("b", &[5], None).unwrap_err().to_string();
    assert!(error.ends_with(&format!("(`{}`)", dir.path().join("part-1.safetensors").display())), "{error}");
}

#[test]
fn wrong_shape_names_tensor_expected_and_got() {
    let dir = single();
    let checkpoint = Checkpoint::open(dir.path()).unwrap();
    let error = checkpoint.tensor("a", &[3, 2], None).unwrap_err().to_string();
    assert_eq!(error, "tensor `a`: expected shape [3, 2]; got [2, 3]");
}

#[test]
fn wrong_dtype_names_tensor_expected_and_got() {
    let dir = single();
    let checkpoint = Checkpoint::open(dir.path()).unwrap();
    let error = checkpoint.tensor("b", &[4], Some(WeightDType::BF16)).unwrap_err().to_string();
    assert_eq!(error, "tensor `b`: expected dtype bfloat16; got float32");
}

#[test]
fn integer_tensor_lists_the_loadable_dtypes() {
    let dir = tempfile::tempdir().unwrap();
    write_file(&dir.path().join(SINGLE_FILE), &[("ids", Dtype::I32, &[4])]);
    let checkpoint = Checkpoint::open(dir.path()).unwrap();
    let error = checkpoint.tensor("ids", &[4], None).unwrap_err().to_string();
    assert_eq!(error, "tensor `ids`: expected dtype bfloat16, float16 or float32; got I32");
}
