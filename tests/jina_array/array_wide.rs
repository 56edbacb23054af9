//! The array API on embeddings far wider than the store is long: a few documents with tens
//! of thousands of values each (what a user's image or audio features can be).

use damfs::array::{self, Matrix};

/// Four rows in 20,000 dimensions, spread along the first two axes only.
fn wide() -> Matrix {
    let d = 20_000;
    let mut data = vec![0f32; 4 * d];
    data[0] = 2.0;
    data[d] = -2.0;
    data[2 * d + 1] = 1.0;
    data[3 * d + 1] = -1.0;
    Matrix::new(4, d, data).unwrap()
}

#[test]
fn pca_of_a_few_very_wide_embeddings_finds_their_two_axes() {
    // The covariance of 20,000 dimensions would be 3.2 GB; the projection needs none of it.
    let got = array::pca_2d(&wide());
    let want = [(2.0, 0.0), (-2.0, 0.0), (0.0, 1.0), (0.0, -1.0)];
    for (g, w) in got.iter().zip(want) {
        assert!(
            (g.0 - w.0).abs() < 1e-9 && (g.1 - w.1).abs() < 1e-9,
            "{got:?}"
        );
    }
}
